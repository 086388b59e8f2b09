// OWNED BY HELPER (oauth/h5): to be written.
import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
export function h5Routes(_deps: Deps, _render: RenderPage): Router { return new Router(); }
