import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The non-face alternative: documents uploaded for operator review. (Placeholder: filled in by the work that needs it.) */
export class HandlerDocuments1764800000000 implements MigrationInterface {
  name = 'HandlerDocuments1764800000000';

  async up(_q: QueryRunner): Promise<void> {}

  async down(_q: QueryRunner): Promise<void> {}
}
