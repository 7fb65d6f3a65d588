/**
 * Every TypeScript block of the README compiles, as a user would write it in a project of their own
 * (this project's compiler settings: strict, CommonJS), importing `shardlease` and `shardlease/cdk`.
 * The imports resolve to the package's sources (the packaging test checks that the published exports
 * are the same modules). A block is a module of its own; one whose fence says ```ts continues is
 * appended to the block before it, so that an example may be split by prose. There are no fragments:
 * a block a reader copies must compile as shown.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

interface Snippet {
  /** README line of the block's first line of code. */
  readonly line: number;
  readonly code: string;
  /** README lines of the blocks it continues into, for messages. */
  readonly lines: number[];
}

/** The ```ts blocks of a Markdown text, continuations merged into the block they continue. */
function typescriptBlocks(markdown: string): Snippet[] {
  const snippets: Array<{ line: number; code: string[]; lines: number[] }> = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript)\b(.*)$/.exec(lines[i] as string);
    if (!fence) continue;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j] as string)) body.push(lines[j++] as string);
    const continues = /\bcontinues\b/.test(fence[2] ?? '');
    const previous = snippets[snippets.length - 1];
    if (continues && previous) {
      previous.code.push(...body);
      previous.lines.push(i + 2);
    } else {
      snippets.push({ line: i + 2, code: body, lines: [i + 2] });
    }
    i = j;
  }
  return snippets.map((s) => ({ line: s.line, code: `${s.code.join('\n')}\n`, lines: s.lines }));
}

function compilerOptions(): ts.CompilerOptions {
  const file = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(file.config, ts.sys, ROOT);
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    baseUrl: ROOT,
    paths: { shardlease: ['lib/index.ts'], 'shardlease/cdk': ['lib/cdk/index.ts'] },
    types: ['node'],
  };
}

/** Compiles every snippet in one program (virtual files in the project, so node_modules resolve). */
function diagnose(snippets: readonly Snippet[]): Map<Snippet, string[]> {
  const options = compilerOptions();
  const virtual = new Map(snippets.map((s) => [join(ROOT, 'test', 'docs', `readme-line-${s.line}.ts`), s]));
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name)?.code ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const snippet = virtual.get(name);
    return snippet
      ? ts.createSourceFile(name, snippet.code, language)
      : getSourceFile.call(host, name, language, ...rest);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  const found = new Map<Snippet, string[]>();
  for (const [name, snippet] of virtual) {
    const source = program.getSourceFile(name);
    const diagnostics = source ? ts.getPreEmitDiagnostics(program, source) : [];
    found.set(
      snippet,
      diagnostics.map((d) => {
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (d.file === undefined || d.start === undefined) return `TS${d.code}: ${text}`;
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        return `${d.file === source ? `snippet line ${line + 1}` : d.file.fileName}: TS${d.code}: ${text}`;
      }),
    );
  }
  return found;
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const snippets = typescriptBlocks(readme);
let diagnostics: Map<Snippet, string[]>;

beforeAll(() => {
  diagnostics = diagnose(snippets);
});

describe('the README’s TypeScript', () => {
  it('has the blocks a user copies (client, coordinator, Lambda consumer, the stacks)', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(5);
  });

  it.each(snippets.map((s) => [s.lines.join(', '), s] as const))(
    'compiles as shown: the block at README line %s',
    (_, snippet) => {
      expect(diagnostics.get(snippet)).toEqual([]);
    },
  );
});

describe('typescriptBlocks', () => {
  it('merges a block marked `continues` into the one before it, and leaves other languages out', () => {
    const text = [
      '```ts',
      'const a = 1;',
      '```',
      'prose',
      '```sh',
      'ls',
      '```',
      '```ts continues',
      'a;',
      '```',
    ];
    expect(typescriptBlocks(text.join('\n'))).toEqual([
      { line: 2, code: 'const a = 1;\na;\n', lines: [2, 9] },
    ]);
  });

  it('catches what it is for: a top-level await under CommonJS, an undefined name', () => {
    const bad = typescriptBlocks(['```ts', 'await Promise.resolve(stack);', '```'].join('\n'));
    const found = diagnose(bad).get(bad[0] as Snippet) ?? [];
    expect(found.join('\n')).toMatch(/TS1309|TS1378|TS1375/);
    expect(found.join('\n')).toMatch(/TS2304: Cannot find name 'stack'/);
  });
});
