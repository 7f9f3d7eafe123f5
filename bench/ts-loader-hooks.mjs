// Module customization hooks used by bench/register.mjs. Runs on Node's loader thread.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const compilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  isolatedModules: true,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: true,
};

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (
    parent?.startsWith('file:') &&
    (specifier.startsWith('./') || specifier.startsWith('../')) &&
    specifier.endsWith('.js')
  ) {
    const jsUrl = new URL(specifier, parent);
    if (!existsSync(fileURLToPath(jsUrl))) {
      const tsUrl = new URL(specifier.slice(0, -3) + '.ts', parent);
      if (existsSync(fileURLToPath(tsUrl))) {
        return { url: tsUrl.href, format: 'module', shortCircuit: true };
      }
    }
  }
  if (specifier.endsWith('.ts') && parent?.startsWith('file:')) {
    const url = specifier.startsWith('file:')
      ? specifier
      : specifier.startsWith('/')
        ? pathToFileURL(specifier).href
        : new URL(specifier, parent).href;
    return { url, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const path = fileURLToPath(url);
    const source = await readFile(path, 'utf8');
    const out = ts.transpileModule(source, { compilerOptions, fileName: path });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return nextLoad(url, context);
}
