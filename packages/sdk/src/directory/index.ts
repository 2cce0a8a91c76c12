export { Directory, type DirectoryEntry, type DirectoryOptions } from './directory.js';
export { defaultPort, normalizeHost, pathMatches, targetFromUrl, type Target } from './target.js';
