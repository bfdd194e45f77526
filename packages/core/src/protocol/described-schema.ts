import type { z } from 'zod';

// Descriptions are for the gateway's OpenAPI document (`GET /v1/openapi.json`) and the reference
// generated from it: `.describe()` adds metadata only, so a described field validates exactly as before.

/** The same object schema with descriptions on some of its fields (order and validation kept). */
export function described<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  descriptions: { [K in keyof Shape]?: string },
): z.ZodObject<Shape> {
  const fields: Record<string, z.ZodType> = {};
  for (const [key, text] of Object.entries(descriptions)) {
    const field = schema.shape[key];
    if (field && text !== undefined) fields[key] = (field as z.ZodType).describe(text);
  }
  return schema.extend(fields) as z.ZodObject<Shape>;
}
