import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useSession } from "./session";

/** The console's pages in the navigation, in order. A page for a new API area is one entry here
 * and one route in main.tsx. */
export const NAVIGATION: { to: string; label: string }[] = [
  { to: "/", label: "Dashboard" },
  { to: "/executions", label: "Executions" },
  { to: "/events", label: "Events" },
  { to: "/enforcements", label: "Enforcements" },
  { to: "/inquiries", label: "Inquiries" },
  { to: "/rules", label: "Rules" },
  { to: "/actions", label: "Actions" },
  { to: "/packs", label: "Packs" },
  { to: "/triggers", label: "Triggers" },
  { to: "/sensors", label: "Sensors" },
  { to: "/workers", label: "Workers" },
  { to: "/deadletters", label: "Dead letters" },
  { to: "/keys", label: "Keys" },
];

export function Shell() {
  const { me, signOut } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setMenuOpen(false), [location.pathname]);

  return (
    <div className="shell">
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Attune</span>
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="navigation"
          onClick={() => setMenuOpen((open) => !open)}
        >
          Menu
        </button>
        <div className="who">
          <span>
            {me?.login} <span className="role">{me?.role}</span>
          </span>
          {me?.via !== "anonymous" && (
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <nav id="navigation" className={menuOpen ? "open" : undefined} aria-label="Main">
        <ul>
          {NAVIGATION.map((item) => (
            <li key={item.to}>
              <NavLink to={item.to} end={item.to === "/"}>
                {item.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
