import { type QueryRunner, Table, type TableColumnOptions } from 'typeorm';

/** Column builders that mean the same on MySQL and SQLite (times are UTC, millisecond precision). */
export const col = {
  id: (): TableColumnOptions => ({ name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' }),
  string: (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable }),
  bool: (name: string): TableColumnOptions => ({ name, type: 'boolean', isNullable: false, default: false }),
  time: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'datetime', precision: 3, isNullable: nullable }),
  int: (name: string, nullable = false, defaultValue?: number): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable, default: defaultValue }),
  /** Up to 64 KB on MySQL: PEM certificates (a few KB) and small documents. */
  text: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'text', isNullable: nullable }),
};

/**
 * Creates a table; on MySQL it is InnoDB in utf8mb4 whatever the server's default, because names of
 * organisations and people hold characters outside the BMP.
 */
export async function createPortableTable(queryRunner: QueryRunner, table: Table): Promise<void> {
  await queryRunner.createTable(table);
  if (queryRunner.connection.options.type === 'mysql') {
    await queryRunner.query(`ALTER TABLE \`${table.name}\` ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  }
}
