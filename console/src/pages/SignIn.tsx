import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { useSession } from "../session";

export function SignIn() {
  const { signIn } = useSession();
  const [credential, setCredential] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(credential.trim());
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in" id="main">
      <form onSubmit={submit} className="card" aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Attune</h1>
        <p>Sign in with an API key (<code>atn_…</code>) or a token (<code>atk_…</code>).</p>
        <label htmlFor="credential">API key or token</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="current-password"
          required
          value={credential}
          onChange={(e) => setCredential(e.target.value)}
        />
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || !credential.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="hint">
          An administrator creates keys with <code>attune apikey create --role viewer</code>; the session
          lasts until its cookie expires or the key is revoked.
        </p>
      </form>
    </main>
  );
}
