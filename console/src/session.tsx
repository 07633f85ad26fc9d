// Who is signed in. The session itself is an HttpOnly cookie the page never sees; the console
// only knows the login and role that /auth/me reports.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { allows, api, call, UNAUTHORIZED_EVENT, type Role, type Schemas } from "./api/client";

type Session = {
  me: Schemas["Me"] | null;
  /** Whether the signed-in role includes `role` (decides which buttons exist; the API checks anyway). */
  can: (role: Role) => boolean;
  signIn: (credential: string) => Promise<void>;
  signOut: () => Promise<void>;
};

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Schemas["Me"] | null | undefined>(undefined);

  const refresh = useCallback(async () => {
    try {
      setMe((await call(api.GET("/auth/session"))) ?? null);
    } catch {
      setMe(null);
    }
  }, []);

  useEffect(() => {
    void refresh();
    const expired = () => setMe(null);
    window.addEventListener(UNAUTHORIZED_EVENT, expired);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, expired);
  }, [refresh]);

  const signIn = useCallback(
    async (credential: string) => {
      await call(api.POST("/auth/session", { body: { credential } }));
      await refresh();
    },
    [refresh],
  );
  const signOut = useCallback(async () => {
    await call(api.DELETE("/auth/session"));
    setMe(null);
  }, []);

  if (me === undefined) return <p className="boot">Loading…</p>;
  const can = (role: Role) => me !== null && allows(me.role, role);
  return <SessionContext.Provider value={{ me, can, signIn, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession outside SessionProvider");
  return session;
}
