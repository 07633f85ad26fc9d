import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Route, Routes } from "react-router";
import { ActionDetail, Actions } from "./pages/Actions";
import { Catalog } from "./pages/Catalog";
import { DeadLetters } from "./pages/DeadLetters";
import { EnforcementDetail, Enforcements } from "./pages/Enforcements";
import { EventDetail, Events } from "./pages/Events";
import { ExecutionDetail } from "./pages/ExecutionDetail";
import { Executions } from "./pages/Executions";
import { Inquiries, InquiryDetail } from "./pages/Inquiries";
import { Keys } from "./pages/Keys";
import { NotFound } from "./pages/NotFound";
import { PackDetail } from "./pages/PackDetail";
import { RuleDetail, Rules } from "./pages/Rules";
import { SignIn } from "./pages/SignIn";
import { Workers } from "./pages/Workers";
import { SessionProvider, useSession } from "./session";
import { Shell } from "./Shell";
import { Loading } from "./ui/widgets";
import "./styles.css";

// The dashboard's charts (Chart.js) load on their own, after the first paint.
const Dashboard = lazy(() => import("./pages/Dashboard"));

function App() {
  const { me } = useSession();
  if (me === null) return <SignIn />;
  return (
    <Routes>
      <Route element={<Shell />}>
        <Route
          index
          element={
            <Suspense fallback={<Loading />}>
              <Dashboard />
            </Suspense>
          }
        />
        <Route path="executions" element={<Executions />} />
        <Route path="executions/:id" element={<ExecutionDetail />} />
        <Route path="events" element={<Events />} />
        <Route path="events/:id" element={<EventDetail />} />
        <Route path="enforcements" element={<Enforcements />} />
        <Route path="enforcements/:id" element={<EnforcementDetail />} />
        <Route path="rules" element={<Rules />} />
        <Route path="rules/:ref" element={<RuleDetail />} />
        <Route path="actions" element={<Actions />} />
        <Route path="actions/:ref" element={<ActionDetail />} />
        <Route path="packs" element={<Catalog kind="packs" />} />
        <Route path="packs/:ref" element={<PackDetail />} />
        <Route path="triggers" element={<Catalog kind="triggers" />} />
        <Route path="sensors" element={<Catalog kind="sensors" />} />
        <Route path="inquiries" element={<Inquiries />} />
        <Route path="inquiries/:id" element={<InquiryDetail />} />
        <Route path="workers" element={<Workers />} />
        <Route path="deadletters" element={<DeadLetters />} />
        <Route path="keys" element={<Keys />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <SessionProvider>
        <App />
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
