import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** One shell command of a doc: its text (continuation lines joined) and where it starts. */
export interface DocCommand {
  /** 1-based line in the file of the command's first line. */
  line: number;
  /** The command's lines as written (a trailing `\` continues onto the next). */
  lines: string[];
  text: string;
}

/** A fenced `sh`, `bash`, `shell` or `console` block. */
export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  commands: DocCommand[];
}

const FENCE = /^```(\w*)\s*$/;
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);

/**
 * The shell blocks of one Markdown file. In `console` blocks only `$ ` lines (and their
 * continuations) are commands, the rest is output; in the others every line is, comments and
 * blank lines left out.
 */
export function extractBlocks(file: string, markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    const lang = open[1] ?? '';
    if (SHELL.has(lang)) {
      const block: DocBlock = { file, line: i + 1, commands: [] };
      let current: DocCommand | undefined;
      for (let j = i + 1; j < end; j++) {
        let text = lines[j] as string;
        if (!current) {
          if (lang === 'console') {
            if (!text.startsWith('$ ')) continue;
            text = text.slice(2);
          }
          if (text.trim() === '' || text.trim().startsWith('#')) continue;
          current = { line: j + 1, lines: [], text: '' };
        }
        current.lines.push(text);
        if (!/\\\s*$/.test(text)) {
          current.text = current.lines.map((l) => l.replace(/\\\s*$/, '').trim()).join(' ');
          block.commands.push(current);
          current = undefined;
        }
      }
      if (current) {
        current.text = current.lines.join(' ');
        block.commands.push(current);
      }
      if (block.commands.length > 0) blocks.push(block);
    }
    i = end;
  }
  return blocks;
}

/** README.md, docs/*.md and every examples/**\/README.md under `root`, relative paths. */
export function documentedFiles(root: string): string[] {
  const files = ['README.md'];
  for (const f of readdirSync(path.join(root, 'docs')).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`);
  const walk = (dir: string) => {
    for (const f of readdirSync(path.join(root, dir)).sort()) {
      if (f === 'node_modules') continue;
      const rel = `${dir}/${f}`;
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (f === 'README.md') files.push(rel);
    }
  };
  walk('examples');
  return files;
}

export function extractAll(root: string): DocBlock[] {
  return documentedFiles(root).flatMap((f) => extractBlocks(f, readFileSync(path.join(root, f), 'utf8')));
}
