// The links and anchors of a Markdown file as GitHub and npmjs.com render it, for the checks that
// every link of a packed README resolves. Code (fenced blocks, inline code spans) is not rendered
// as links, so it is left out. Headings are ATX (`## Title`), as everywhere in this repository.

export interface MarkdownLink {
  /** The link as written: a URL, a relative path, or `#anchor`. */
  target: string;
  /** 1-based line of its first occurrence. */
  line: number;
}

/** The lines of a Markdown text with fenced code blocks blanked, so line numbers stay right. */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (fence === undefined) {
      if (!marker) return line;
      fence = marker[1];
      return '';
    }
    const closes =
      marker !== null &&
      marker[1]![0] === fence[0] &&
      marker[1]!.length >= fence.length &&
      marker[2]!.trim() === '';
    if (closes) fence = undefined;
    return '';
  });
}

/** A line without its inline code spans (`` `code` ``, ``` ``co`de`` ```). */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)(?:.*?[^`])?\1(?!`)/g, '');
}

/** Trailing punctuation GFM does not take into a bare URL (and a `)` that closes a Markdown link). */
function trimBareUrl(url: string): string {
  let trimmed = url.replace(/[.,;:!?*_'"]+$/, '');
  while (trimmed.endsWith(')') && count(trimmed, '(') < count(trimmed, ')')) {
    trimmed = trimmed.slice(0, -1).replace(/[.,;:!?*_'"]+$/, '');
  }
  return trimmed;
}

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}

/**
 * Every link target of a Markdown text: inline links and images (`[text](target)`), reference
 * definitions (`[id]: target`), HTML `href`/`src` attributes, autolinks and bare URLs (which GFM
 * renders as links), each once, outside code.
 */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links = new Map<string, MarkdownLink>();
  const add = (target: string, line: number) => {
    if (!links.has(target)) links.set(target, { target, line });
  };
  proseLines(markdown).forEach((raw, index) => {
    const line = withoutCodeSpans(raw);
    const lineNumber = index + 1;
    for (const match of line.matchAll(/\]\(\s*<?([^\s)>]*)/g)) add(match[1]!, lineNumber);
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)/.exec(line);
    if (definition) add(definition[1]!, lineNumber);
    for (const match of line.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/g)) add(match[1]!, lineNumber);
    for (const match of line.matchAll(/\b(?:https?|ftp):\/\/[^\s<>"'`\]]+/g)) {
      add(trimBareUrl(match[0]), lineNumber);
    }
  });
  return [...links.values()];
}

/** A heading's text as rendered: code, links, images and emphasis reduced to their words. */
function renderedHeading(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .replace(/\*/g, '');
}

/** The anchor GitHub (github-slugger) and npmjs.com give a heading, before de-duplication. */
export function headingSlug(heading: string): string {
  return renderedHeading(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/**
 * Every anchor a Markdown text defines: one per heading (a repeated heading gets `-1`, `-2`, as
 * on GitHub), and the `id`/`name` of HTML anchors.
 */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (heading) {
      const slug = headingSlug(heading[1] ?? '');
      const times = seen.get(slug) ?? 0;
      seen.set(slug, times + 1);
      anchors.add(times === 0 ? slug : `${slug}-${times}`);
    }
    for (const match of line.matchAll(/<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']/g)) {
      anchors.add(match[1]!);
    }
  }
  return anchors;
}
