// Lets plain `node` run this repository's TypeScript ESM sources (bench/, lib/, test/support/)
// without a build step and without extra dependencies: `node --import ./bench/register.mjs x.ts`.
//
// The hooks below (registered with module.register, Node >= 20.6) do two things:
//  - resolve: a relative `./x.js` specifier whose file does not exist but `./x.ts` does resolves
//    to the `.ts` file (tsconfig "nodenext" makes sources import `.js`);
//  - load: `.ts` files are transpiled with the project's own `typescript` (transpileModule, no
//    type check) with the decorator options Nest needs, and loaded as ES modules.
import { register } from 'node:module';

register('./ts-loader-hooks.mjs', import.meta.url);
