import { EntitySchema } from 'typeorm';

/**
 * A binding from the old mini program, imported by an operator: a unionid and a certificate, named by its
 * serial or by the media serial of its U-KEY (keyKind). Restored to whichever openid has that unionid.
 */
export interface LegacyBinding {
  id: number;
  unionid: string;
  keyKind: 'serial' | 'media';
  keyValue: string;
  importedAt: Date;
  /** File and line it came from, for the operator's report. */
  origin: string;
}

export const LegacyBindingEntity = new EntitySchema<LegacyBinding>({
  name: 'LegacyBinding',
  tableName: 'legacy_bindings',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    unionid: { type: String, length: 64 },
    keyKind: { name: 'key_kind', type: String, length: 8 },
    keyValue: { name: 'key_value', type: String, length: 64 },
    importedAt: { name: 'imported_at', type: Date },
    origin: { type: String, length: 200 },
  },
  uniques: [{ name: 'uq_legacy_bindings', columns: ['unionid', 'keyKind', 'keyValue'] }],
});
