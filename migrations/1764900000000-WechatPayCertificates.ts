import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** WeChat Pay platform certificates, downloaded and kept while valid. (Placeholder: filled in by the work that needs it.) */
export class WechatPayCertificates1764900000000 implements MigrationInterface {
  name = 'WechatPayCertificates1764900000000';

  async up(_q: QueryRunner): Promise<void> {}

  async down(_q: QueryRunner): Promise<void> {}
}
