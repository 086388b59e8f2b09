/** @koa/multer 4.0.0 ships no types: the part this module uses (multer's options, promisified middleware). */
declare module '@koa/multer' {
  import type Koa from 'koa';
  import type multer from 'multer';

  interface KoaMulter {
    fields(fields: readonly { name: string; maxCount?: number }[]): Koa.Middleware;
  }
  function koaMulter(options?: multer.Options): KoaMulter;
  namespace koaMulter {
    const memoryStorage: typeof multer.memoryStorage;
  }
  export = koaMulter;
}
