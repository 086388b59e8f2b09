import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { OID } from './oids';
import { type CertificateSubject } from './types';

/**
 * CertificateSubject ↔ X.500 Name.
 *
 * Choice: the 统一社会信用代码 is written as organizationIdentifier (2.5.4.97, X.520 / ETSI EN 319 412-1),
 * the attribute made for an organisation's registration number; serialNumber (2.5.4.5) is what several
 * Chinese CAs use instead, so parsing accepts it too (organizationIdentifier wins when both are present).
 * Strings are UTF8String (Chinese names), except countryName, which X.520 requires to be PrintableString.
 * Order (most significant first): C, ST, L, O, OU, organizationIdentifier, CN.
 */
const WRITE_ORDER: Array<[keyof CertificateSubject, string]> = [
  ['country', OID.country],
  ['province', OID.province],
  ['locality', OID.locality],
  ['organization', OID.organization],
  ['organizationalUnit', OID.organizationalUnit],
  ['creditCode', OID.organizationIdentifier],
  ['commonName', OID.commonName],
];

/** Short names for the DN string (RFC 4514 where one exists). */
const SHORT: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.serialNumber]: 'serialNumber',
  [OID.country]: 'C',
  [OID.locality]: 'L',
  [OID.province]: 'ST',
  [OID.organization]: 'O',
  [OID.organizationalUnit]: 'OU',
  [OID.organizationIdentifier]: 'organizationIdentifier',
  [OID.emailAddress]: 'emailAddress',
};

export function subjectToName(subject: CertificateSubject): Name {
  const rdns: RelativeDistinguishedName[] = [];
  for (const [field, oid] of WRITE_ORDER) {
    const v = subject[field];
    if (v === undefined || v === '') continue;
    if (field === 'country' && !/^[A-Z]{2}$/.test(v)) throw new Error(`subject country must be two capital letters, got ${JSON.stringify(v)}`);
    const value = field === 'country' ? new AttributeValue({ printableString: v }) : new AttributeValue({ utf8String: v });
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type: oid, value })]));
  }
  if (!rdns.length) throw new Error('subject is empty');
  return new Name(rdns);
}

export const subjectToNameDer = (subject: CertificateSubject): Uint8Array => new Uint8Array(AsnConvert.serialize(subjectToName(subject)));

function attributeText(value: AttributeValue): string | undefined {
  const s = value.utf8String ?? value.printableString ?? value.bmpString ?? value.ia5String ?? value.teletexString ?? value.universalString;
  return s === undefined ? undefined : String(s);
}

export function nameToSubject(name: Name): CertificateSubject {
  const subject: CertificateSubject = {};
  let serialNumber: string | undefined;
  for (const rdn of name) {
    for (const atv of rdn) {
      const text = attributeText(atv.value);
      if (text === undefined) continue;
      const field = WRITE_ORDER.find(([, oid]) => oid === atv.type)?.[0];
      // Multi-valued or repeated attributes (two OUs): the first one wins; nothing we do depends on the rest.
      if (field && subject[field] === undefined) subject[field] = text;
      if (atv.type === OID.serialNumber && serialNumber === undefined) serialNumber = text;
    }
  }
  if (subject.creditCode === undefined && serialNumber !== undefined) subject.creditCode = serialNumber;
  return subject;
}

const escapeDnValue = (v: string) => v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]/, (c) => `\\${c}`).replace(/ $/, '\\ ');

/** RFC 4514-style string, least significant RDN first ("CN=…, O=…, C=CN"), for display and logs. */
export function nameToString(name: Name): string {
  return [...name]
    .reverse()
    .map((rdn) => [...rdn].map((atv) => `${SHORT[atv.type] ?? atv.type}=${escapeDnValue(attributeText(atv.value) ?? '#')}`).join('+'))
    .join(', ');
}
