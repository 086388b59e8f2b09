import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * 到期提醒 (issue 12): one row per certificate, threshold (30/7/1 days) and recipient, claimed before anything is sent;
 * the delivery reports WeChat posts per template message (TEMPLATESENDJOBFINISH, keyed by msgid); the one-time
 * 订阅通知 acceptances; and the reminder mobile numbers handlers gave with their consent (sealed by the PII vault).
 */
export class ExpiryReminders1766000000000 implements MigrationInterface {
  name = 'ExpiryReminders1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'expiry_reminders',
      columns: [
        col.id(), col.int('certificate_id'), col.int('threshold_days'), col.string('openid', 64), col.string('kind', 16),
        col.string('channel', 16, true), col.string('state', 16), col.string('msgid', 32, true), col.string('detail', 64, true),
        col.time('not_after'), col.int('attempts', false, 0), col.time('claimed_at'), col.time('settled_at', true), col.bool('sandbox'),
      ],
      uniques: [{ name: 'uq_expiry_reminders_cert_threshold_openid', columnNames: ['certificate_id', 'threshold_days', 'openid'] }],
      indices: [
        { name: 'ix_expiry_reminders_msgid', columnNames: ['msgid'] },
        { name: 'ix_expiry_reminders_state', columnNames: ['state', 'claimed_at'] },
        { name: 'ix_expiry_reminders_settled', columnNames: ['settled_at'] },
      ],
    }));
    await createPortableTable(q, new Table({
      name: 'template_send_reports',
      columns: [col.id(), col.string('msgid', 32), col.string('status', 48), col.time('reported_at')],
      uniques: [{ name: 'uq_template_send_reports_msgid', columnNames: ['msgid'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'subscribe_consents',
      columns: [
        col.id(), col.string('openid', 64), col.string('template_id', 64), col.string('status', 16), col.int('grants', false, 0),
        col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_subscribe_consents_openid_template', columnNames: ['openid', 'template_id'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'reminder_mobiles',
      columns: [
        col.id(), col.string('openid', 64), col.string('mobile_sealed', 255), col.string('mobile_masked', 16), col.string('consent_version', 16),
        col.time('consented_at'), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_reminder_mobiles_openid', columnNames: ['openid'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['reminder_mobiles', 'subscribe_consents', 'template_send_reports', 'expiry_reminders']) await q.dropTable(table);
  }
}
