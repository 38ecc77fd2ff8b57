/** scripts/docs-assets.mjs, for vitest.config.ts. */
export declare const ASSETS_DIR: string;
export declare function copyDocsAssets(): string;
