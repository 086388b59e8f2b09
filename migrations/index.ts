import { Certificates1764300000000 } from './1764300000000-Certificates';
import { Followers1764100000000 } from './1764100000000-Followers';
import { SandboxCa1764200000000 } from './1764200000000-SandboxCa';
import { Orders1764400000000 } from './1764400000000-Orders';
import { Transfers1764500000000 } from './1764500000000-Transfers';
import { Handlers1764600000000 } from './1764600000000-Handlers';
import { HandlerAuthorisation1764700000000 } from './1764700000000-HandlerAuthorisation';
import { HandlerDocuments1764800000000 } from './1764800000000-HandlerDocuments';
import { WechatPayCertificates1764900000000 } from './1764900000000-WechatPayCertificates';
import { OrderNotices1765000000000 } from './1765000000000-OrderNotices';
import { NoticeOutbox1765100000000 } from './1765100000000-NoticeOutbox';
import { Refunds1765150000000 } from './1765150000000-Refunds';
import { WechatPayAttempts1765200000000 } from './1765200000000-WechatPayAttempts';
import { FollowerRestoreOwed1765300000000 } from './1765300000000-FollowerRestoreOwed';
import { SandboxCaCrls1765500000000 } from './1765500000000-SandboxCaCrls';
import { WechatPayBills1765800000000 } from './1765800000000-WechatPayBills';
import { Invoices1765600000000 } from './1765600000000-Invoices';
import { Renewals1765700000000 } from './1765700000000-Renewals';
import { Console1765900000000 } from './1765900000000-Console';
import { OrderSearch1766200000000 } from './1766200000000-OrderSearch';
import { FinanceConsole1766300000000 } from './1766300000000-FinanceConsole';
import { RevocationEvidence1766400000000 } from './1766400000000-RevocationEvidence';
import { ExpiryReminders1766000000000 } from './1766000000000-ExpiryReminders';
import { StatementImportBatches1766100000000 } from './1766100000000-StatementImportBatches';

/** Every migration, in order. Listed explicitly so the compiled build and tsx runs find the same set. */
export const migrations = [Followers1764100000000, SandboxCa1764200000000, Certificates1764300000000, Orders1764400000000,
  Transfers1764500000000, Handlers1764600000000, HandlerAuthorisation1764700000000,
  HandlerDocuments1764800000000, WechatPayCertificates1764900000000, OrderNotices1765000000000,
  NoticeOutbox1765100000000, Refunds1765150000000, WechatPayAttempts1765200000000,
  FollowerRestoreOwed1765300000000, SandboxCaCrls1765500000000, Invoices1765600000000, Renewals1765700000000,
  WechatPayBills1765800000000, Console1765900000000, ExpiryReminders1766000000000,
  StatementImportBatches1766100000000, OrderSearch1766200000000, FinanceConsole1766300000000,
  RevocationEvidence1766400000000];
