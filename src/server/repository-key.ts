/**
 * The key a push's repository URLs are matched under. It is computed here, for each URL a webhook
 * names, and compared with Repositories' URLs by the controller and by a standby's forwarding; it
 * lives in the source layer so that all of them use the one function (the controller may not import
 * the server). See `src/source/match-key.ts`.
 */
export { repositoryMatchKey } from '../source/index.js';
