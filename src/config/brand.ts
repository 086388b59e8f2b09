/**
 * Who the user is dealing with, in one place: the support hotline and the names pages and messages show. Templates
 * read it as the view global `brand` (src/app.ts); source files import it. Not a setting: it names the business, not
 * the deployment.
 */
export const BRAND = Object.freeze({
  /** 客服热线, on every page footer and in refusals that send the user to a person. */
  hotline: '95105813',
  /** The official account (服务号) as users search for it and follow it in WeChat. */
  accountName: 'GDCA 数安时代',
  /** The H5 app behind the menu 客户服务 → 数安CA管家 (and the PC pages' brand). */
  appName: '数安CA管家',
});
