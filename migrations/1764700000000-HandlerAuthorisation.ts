import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Which verified handlers may act for which organisation (first one recorded, later ones approved by an operator). (Placeholder: filled in by the work that needs it.) */
export class HandlerAuthorisation1764700000000 implements MigrationInterface {
  name = 'HandlerAuthorisation1764700000000';

  async up(_q: QueryRunner): Promise<void> {}

  async down(_q: QueryRunner): Promise<void> {}
}
