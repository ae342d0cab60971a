import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

// Response serialization (issue 5). fastify-type-provider-zod's serializer runs a full zod
// parse of every answer and then JSON.stringify. The answers' schemas are plain: objects of
// strings, numbers, booleans, literals, enums, arrays and nullable values. For such a schema this
// compiles, once per route and status, a function that copies exactly the schema's fields
// (unknown fields are dropped, so a secret cannot leak through a field the schema does not
// name: ARCHITECTURE.md) after a cheap check of each value's type, literal, enum or integer
// range. Any value the check refuses is handed to the zod serializer, which answers with the
// same error as before (a 500); a schema with anything else (a refinement, a transform, a
// string format, a union...) is always serialized by zod, as before.

type Json = Record<string, unknown>;
const FAIL = Symbol('fail');
type Copy = (v: unknown) => unknown;

const ANNOTATIONS = new Set(['description', 'title', 'examples', 'deprecated', '$schema']);
const onlyKeys = (s: Json, allowed: string[]) => Object.keys(s).every((k) => ANNOTATIONS.has(k) || allowed.includes(k));

function compileNode(s: Json): Copy | null {
  if ('const' in s) {
    if (!onlyKeys(s, ['type', 'const'])) return null;
    const c = s.const;
    return (v) => (v === c ? v : FAIL);
  }
  if ('enum' in s) {
    if (!onlyKeys(s, ['type', 'enum']) || !Array.isArray(s.enum)) return null;
    const values = new Set(s.enum as unknown[]);
    return (v) => (values.has(v) ? v : FAIL);
  }
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  const nullable = types.includes('null');
  const rest = types.filter((t) => t !== 'null');
  if (rest.length !== 1) return null;
  const inner = compileType(rest[0] as string, s);
  if (!inner) return null;
  return nullable ? (v) => (v === null ? null : inner(v)) : inner;
}

function compileType(type: string, s: Json): Copy | null {
  switch (type) {
    case 'string':
      return onlyKeys(s, ['type']) ? (v) => (typeof v === 'string' ? v : FAIL) : null;
    case 'boolean':
      return onlyKeys(s, ['type']) ? (v) => (typeof v === 'boolean' ? v : FAIL) : null;
    case 'number':
      return onlyKeys(s, ['type']) ? (v) => (typeof v === 'number' && Number.isFinite(v) ? v : FAIL) : null;
    case 'integer': {
      if (!onlyKeys(s, ['type', 'minimum', 'maximum'])) return null;
      const min = typeof s.minimum === 'number' ? s.minimum : -Infinity;
      const max = typeof s.maximum === 'number' ? s.maximum : Infinity;
      return (v) => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? v : FAIL);
    }
    case 'array': {
      if (!onlyKeys(s, ['type', 'items']) || typeof s.items !== 'object' || s.items === null) return null;
      const item = compileNode(s.items as Json);
      if (!item) return null;
      return (v) => {
        if (!Array.isArray(v)) return FAIL;
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) if ((out[i] = item(v[i])) === FAIL) return FAIL;
        return out;
      };
    }
    case 'object': {
      if (!onlyKeys(s, ['type', 'properties', 'required', 'additionalProperties']) || s.additionalProperties !== false) return null;
      const props = (s.properties ?? {}) as Record<string, Json>;
      const required = new Set((s.required ?? []) as string[]);
      const fields: { key: string; required: boolean; copy: Copy }[] = [];
      for (const [key, p] of Object.entries(props)) {
        const copy = compileNode(p);
        if (!copy) return null;
        fields.push({ key, required: required.has(key), copy });
      }
      return (v) => {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return FAIL;
        const out: Json = {};
        for (const f of fields) {
          const x = (v as Json)[f.key];
          if (x === undefined) {
            if (f.required) return FAIL;
            continue;
          }
          const y = f.copy(x);
          if (y === FAIL) return FAIL;
          out[f.key] = y;
        }
        return out;
      };
    }
    default:
      return null;
  }
}

type Def = { checks?: { _zod: { def: { check: string } } }[]; innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType; out?: z.ZodType; options?: z.ZodType[]; shape?: Record<string, z.ZodType> };

/** A refine() or superRefine() anywhere: JSON Schema cannot say it, so only zod can check it. */
function hasCustomCheck(s: z.ZodType, seen = new Set<z.ZodType>()): boolean {
  if (seen.has(s)) return false;
  seen.add(s);
  const def = s._zod.def as Def;
  if ((def.checks ?? []).some((c) => c._zod.def.check === 'custom')) return true;
  const kids = [def.innerType, def.element, def.in, def.out, ...(def.options ?? []), ...Object.values(def.shape ?? {})];
  return kids.some((k) => k instanceof z.ZodType && hasCustomCheck(k, seen));
}

/** The copy function for a zod response schema, or null when it needs zod's own serializer. */
export function compileResponseCopy(schema: unknown): Copy | null {
  if (!(schema instanceof z.ZodType) || hasCustomCheck(schema)) return null;
  let json: Json;
  try {
    json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'throw' }) as Json;
  } catch {
    return null;
  }
  if (json.type !== 'object') return null;
  return compileNode(json);
}

export const serializerCompiler: typeof zodSerializerCompiler = (route) => {
  const viaZod = zodSerializerCompiler(route);
  const copy = compileResponseCopy(route.schema);
  if (!copy) return viaZod;
  return (data: unknown) => {
    const out = copy(data);
    return out === FAIL ? viaZod(data) : JSON.stringify(out);
  };
};
