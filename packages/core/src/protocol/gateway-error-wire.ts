import { z } from 'zod';

/** What the gateway answers with every status but 2xx. */
export const ErrorReplySchema = z.object({
  error: z
    .string()
    .describe(
      'A short code: `bad_request`, `policy_invalid`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `too_large`, `unsupported_media_type`, `too_many_requests`, `not_implemented`.',
    ),
  message: z.string().describe('What went wrong, in words.'),
  field: z.string().optional().describe('The request field at fault (400).'),
  issues: z
    .array(
      z.object({
        file: z.string().describe('The policy file.'),
        line: z.number().describe('1-based line.'),
        column: z.number().describe('1-based column.'),
        message: z.string().describe('The problem.'),
      }),
    )
    .optional()
    .describe('Every problem of a refused policy push (400).'),
});
export type ErrorReply = z.infer<typeof ErrorReplySchema>;
