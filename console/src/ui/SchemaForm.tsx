// A form generated from a JSON Schema (an action's parameters, an inquiry's response): a field per
// top-level property, typed inputs, enums as choices, defaults filled in, required fields marked, secrets
// as password fields. Nested objects and arrays are edited as JSON.
import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "../api/client";

type Property = {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  title?: string;
  secret?: boolean;
  /** StackStorm's draft-4 habit: `required: true` on the property itself. */
  required?: boolean;
};
type Schema = { properties?: Record<string, Property>; required?: string[] };
type Kind = "string" | "integer" | "number" | "boolean" | "enum" | "json";
type Value = string | boolean;

function kindOf(p: Property): Kind {
  if (Array.isArray(p.enum)) return "enum";
  const type = Array.isArray(p.type) ? p.type.find((t) => t !== "null") : p.type;
  if (type === "string" || type === "integer" || type === "number" || type === "boolean") return type;
  return "json";
}

function toInput(kind: Kind, value: unknown): Value {
  if (value === undefined || value === null) return kind === "boolean" ? false : "";
  if (kind === "boolean") return Boolean(value);
  if (kind === "json") return JSON.stringify(value, null, 2);
  if (kind === "enum") return JSON.stringify(value);
  return String(value);
}

function fromInput(kind: Kind, value: Value): unknown {
  if (kind === "boolean") return value;
  const text = String(value);
  if (kind === "string") return text;
  if (kind === "integer" || kind === "number") {
    const n = Number(text);
    if (text.trim() === "" || Number.isNaN(n) || (kind === "integer" && !Number.isInteger(n))) {
      throw new Error(kind === "integer" ? "must be a whole number" : "must be a number");
    }
    return n;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error("must be valid JSON");
  }
}

export function SchemaForm({
  schema,
  initial,
  onlyChanged = false,
  submitLabel,
  onSubmit,
  footer,
  errorPrefix = "parameters",
  emptyNote = "This action takes no parameters.",
}: {
  schema: Schema;
  /** Values to start from (defaults otherwise); secrets are never prefilled. */
  initial?: Record<string, unknown>;
  /** Submit only the fields that differ from `initial` (a re-run merges them over the original). */
  onlyChanged?: boolean;
  submitLabel: string;
  onSubmit: (parameters: Record<string, unknown>) => Promise<void>;
  footer?: ReactNode;
  /** The body field the API's validation errors name the values under (`parameters.message`). */
  errorPrefix?: string;
  /** Shown when the schema has no properties. */
  emptyNote?: string;
}) {
  const properties = Object.entries(schema.properties ?? {});
  const required = new Set([
    ...(Array.isArray(schema.required) ? schema.required : []),
    ...properties.filter(([, p]) => p.required === true).map(([name]) => name),
  ]);
  const start = (name: string, p: Property): Value => {
    const kind = kindOf(p);
    if (p.secret) return "";
    return toInput(kind, initial && name in initial ? initial[name] : p.default);
  };
  const [values, setValues] = useState<Record<string, Value>>(() =>
    Object.fromEntries(properties.map(([name, p]) => [name, start(name, p)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parameters: Record<string, unknown> = {};
    const found: Record<string, string> = {};
    for (const [name, p] of properties) {
      const kind = kindOf(p);
      const value = values[name] ?? "";
      if (value === "" && kind !== "string") continue;
      if (value === "" && (p.secret || !required.has(name))) continue;
      if (onlyChanged && !p.secret && value === start(name, p)) continue;
      try {
        parameters[name] = kind === "enum" ? JSON.parse(String(value)) : fromInput(kind, value);
      } catch (e) {
        found[name] = (e as Error).message;
      }
    }
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await onSubmit(parameters);
    } catch (e) {
      if (e instanceof ApiError) {
        setProblem(e.message);
        const prefix = new RegExp(`^${errorPrefix}\\.?`);
        setErrors(Object.fromEntries(e.errors.map((x) => [x.field.replace(prefix, ""), x.message])));
      } else {
        setProblem(String(e));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="schema-form" onSubmit={submit} noValidate>
      {properties.length === 0 && <p className="muted">{emptyNote}</p>}
      {properties.map(([name, p]) => {
        const kind = kindOf(p);
        const id = `param-${name}`;
        const hint = p.description ? `${id}-hint` : undefined;
        const error = errors[name];
        const describedBy = [hint, error ? `${id}-error` : undefined].filter(Boolean).join(" ") || undefined;
        const set = (value: Value) => setValues((v) => ({ ...v, [name]: value }));
        const common = {
          id,
          name,
          "aria-describedby": describedBy,
          "aria-invalid": error ? true : undefined,
          required: required.has(name) && kind !== "boolean" && !p.secret,
        };
        let input: ReactNode;
        if (kind === "boolean") {
          input = <input type="checkbox" {...common} checked={Boolean(values[name])} onChange={(e) => set(e.target.checked)} />;
        } else if (kind === "enum") {
          input = (
            <select {...common} value={String(values[name])} onChange={(e) => set(e.target.value)}>
              {!required.has(name) && <option value="">(not set)</option>}
              {p.enum?.map((option) => (
                <option key={JSON.stringify(option)} value={JSON.stringify(option)}>
                  {typeof option === "string" ? option : JSON.stringify(option)}
                </option>
              ))}
            </select>
          );
        } else if (kind === "json") {
          input = <textarea {...common} rows={3} value={String(values[name])} onChange={(e) => set(e.target.value)} spellCheck={false} />;
        } else {
          input = (
            <input
              {...common}
              type={p.secret ? "password" : kind === "string" ? "text" : "number"}
              step={kind === "integer" ? 1 : kind === "number" ? "any" : undefined}
              autoComplete={p.secret ? "new-password" : "off"}
              placeholder={p.secret && initial ? "unchanged" : undefined}
              value={String(values[name])}
              onChange={(e) => set(e.target.value)}
            />
          );
        }
        return (
          <div key={name} className={`field field-${kind}`}>
            <label htmlFor={id}>
              {p.title ?? name}
              {required.has(name) && <span className="required"> (required)</span>}
              {p.secret && <span className="muted"> (secret)</span>}
              {kind === "json" && <span className="muted"> (JSON)</span>}
            </label>
            {input}
            {p.description && (
              <p id={hint} className="hint">
                {p.description}
              </p>
            )}
            {error && (
              <p id={`${id}-error`} className="error">
                {error}
              </p>
            )}
          </div>
        );
      })}
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {footer}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Sending…" : submitLabel}
      </button>
    </form>
  );
}
