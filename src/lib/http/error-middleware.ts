import type Koa from 'koa';
import { AppError } from '../errors';
import { type Logger } from '../logger';
import { type RenderPage } from '../views';

/** Pages are H5/PC HTML; everything under these prefixes (and any request that asks for JSON) gets JSON errors. */
const API_PREFIXES = ['/api/', '/pay/', '/sandbox/wechat-api/', '/capc/api/', '/gdca-page/api/'];

function wantsJson(ctx: Koa.Context): boolean {
  if (API_PREFIXES.some((p) => ctx.path.startsWith(p))) return true;
  return ctx.accepts('html', 'json') === 'json';
}

/**
 * The one error handler: AppErrors become their status with a Chinese message; anything else is a 500 with a
 * generic message. The stack and internal detail go to the log only, tagged with the request id.
 */
export function errorMiddleware(logger: Logger, render: RenderPage): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFound();
    } catch (err) {
      const known = err instanceof AppError;
      const status = known ? err.status : typeof (err as { status?: number }).status === 'number' && (err as { status: number }).status < 500 ? (err as { status: number }).status : 500;
      const userMessage = known ? err.userMessage : status === 404 ? '页面不存在' : status < 500 ? '请求无效，请检查后重试' : '系统繁忙，请稍后再试';
      const code = known ? err.code : status === 404 ? 'NOT_FOUND' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR';
      const log = { err, status, code, requestId: ctx.state.requestId, path: ctx.path };
      if (status >= 500) logger.error(log, 'request failed');
      else logger.info({ ...log, err: undefined, detail: known ? err.detail : (err as Error).message }, 'request refused');
      ctx.status = status;
      if (wantsJson(ctx)) {
        ctx.body = { error: { code, message: userMessage, requestId: ctx.state.requestId } };
      } else {
        ctx.type = 'html';
        ctx.body = renderErrorPage(render, logger, { status, message: userMessage, requestId: ctx.state.requestId });
      }
    }
  };
}

/** The error page must not fail in turn: if the template cannot render, a bare page says the same. */
function renderErrorPage(render: RenderPage, logger: Logger, data: { status: number; message: string; requestId?: string }): string {
  try {
    return render('error.njk', data);
  } catch (err) {
    logger.error({ err }, 'error page template failed');
    const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    return `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>出错了</title><p>${escape(data.message)}</p><p><small>${escape(data.requestId ?? '')}</small></p></html>`;
  }
}

class NotFound extends Error {
  status = 404;
}
