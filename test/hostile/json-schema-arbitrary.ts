import fc from 'fast-check';

/** The subset of JSON Schema (2020-12, as OpenAPI 3.1 carries it) the route schemas use. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  additionalProperties?: boolean | JsonSchema;
}

/** Field names whose values are personal data: generated values for them must never be echoed. */
export const personalFieldNames = new Set([
  'email',
  'name',
  'phone',
  'iban',
  'line1',
  'line2',
  'city',
  'postalCode',
  'comment',
]);

const personalValue = (field: string) =>
  fc.stringMatching(/^[a-z]{6,12}$/).map((word) => {
    switch (field) {
      case 'email':
        return `${word}.fuzz@example.org`;
      case 'iban':
        return `FR76${word.toUpperCase()}`;
      case 'phone':
        return `+3361${word.length}${'0'.repeat(6)}`;
      default:
        return `Fuzz ${word}`;
    }
  });

export type Resolver = (ref: string) => JsonSchema;

/**
 * A fast-check arbitrary of values that mostly satisfy `schema`; string values of personal fields are
 * recognisable so a test can prove they never come back in an error.
 */
export function arbitraryFromSchema(
  schema: JsonSchema,
  resolve: Resolver,
  field = '',
  depth = 0,
): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  if (schema.$ref) return arbitraryFromSchema(resolve(schema.$ref), resolve, field, depth + 1);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives)
    return fc.oneof(...alternatives.map((s) => arbitraryFromSchema(s, resolve, field, depth + 1)));
  if (schema.allOf?.[0]) return arbitraryFromSchema(schema.allOf[0], resolve, field, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (type.length > 1)
    return fc.oneof(...type.map((t) => arbitraryFromSchema({ ...schema, type: t }, resolve, field, depth)));
  switch (type[0]) {
    case 'string':
      return stringArbitrary(schema, field);
    case 'integer':
      return fc.integer({
        min: Math.ceil(schema.minimum ?? (schema.exclusiveMinimum ?? -1_000_001) + 1),
        max: Math.floor(Math.min(schema.maximum ?? (schema.exclusiveMaximum ?? 1_000_001) - 1, 2 ** 31)),
      });
    case 'number':
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(
        schema.items ? arbitraryFromSchema(schema.items, resolve, field, depth + 1) : fc.jsonValue(),
        {
          minLength: schema.minItems ?? 0,
          maxLength: Math.min(schema.maxItems ?? 4, Math.max(schema.minItems ?? 0, 4)),
        },
      );
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties)) {
        record[key] = arbitraryFromSchema(value, resolve, key, depth + 1);
      }
      return fc.record(record, { requiredKeys: [...required].filter((key) => key in record) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function stringArbitrary(schema: JsonSchema, field: string): fc.Arbitrary<string> {
  if (personalFieldNames.has(field)) return personalValue(field);
  switch (schema.format) {
    case 'email':
      return fc.emailAddress();
    case 'date-time':
      return fc
        .date({
          min: new Date('2020-01-01T00:00:00Z'),
          max: new Date('2030-12-31T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((date) => date.toISOString());
    case 'date':
      return fc
        .date({
          min: new Date('2020-01-01T00:00:00Z'),
          max: new Date('2030-12-31T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((date) => date.toISOString().slice(0, 10));
    case 'uuid':
      return fc.uuid();
    default:
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 24, 64) });
  }
}

/** Collects every string under a personal field name in a generated value. */
export function personalValuesIn(value: unknown, field = '', found: string[] = []): string[] {
  if (typeof value === 'string' && personalFieldNames.has(field) && value.length >= 6) found.push(value);
  else if (Array.isArray(value)) for (const item of value) personalValuesIn(item, field, found);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) personalValuesIn(item, key, found);
  }
  return found;
}
