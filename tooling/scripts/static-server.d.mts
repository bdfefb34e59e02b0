// Types for static-server.mjs.

/** A running server: its base URL, the paths requested so far, and close(). */
export interface StaticServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serves [urlPrefix, folder] pairs on 127.0.0.1 (first match wins). */
export declare function serveFolders(roots: Array<[string, string | undefined]>, options?: { port?: number }): Promise<StaticServer>;
