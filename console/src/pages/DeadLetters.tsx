import { useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { Filters } from "../ui/Filters";
import { cursor, ListBody, Page, Time } from "../ui/widgets";

function Letter({ letter }: { letter: Schemas["DeadLetterOut"] }) {
  return (
    <details className="card letter">
      <summary>
        <span className="status status-bad">{letter.reason}</span> <Time iso={letter.failed_at} /> <code>{letter.subject}</code>
        <span className="detail">{letter.detail}</span>
      </summary>
      <dl className="fields">
        <div><dt>Sequence</dt><dd>{letter.seq}</dd></div>
        <div><dt>From</dt><dd>{letter.stream ? `${letter.stream} #${letter.stream_seq} (${letter.consumer ?? "?"}, delivered ${letter.num_delivered ?? "?"}×)` : "—"}</dd></div>
      </dl>
      <h3>Payload</h3>
      <pre className="json" tabIndex={0} aria-label="Payload">{letter.body ?? (letter.body_b64 ? `(binary, base64) ${letter.body_b64}` : "(empty)")}</pre>
      {Object.keys(letter.headers ?? {}).length > 0 && (
        <>
          <h3>Headers</h3>
          <pre className="json" tabIndex={0} aria-label="Headers">{JSON.stringify(letter.headers, null, 2)}</pre>
        </>
      )}
    </details>
  );
}

export function DeadLetters() {
  const [params] = useSearchParams();
  const query = {
    reason: params.get("reason") ?? undefined,
    before_id: cursor(params),
    limit: 50,
  };
  const list = useQuery(() => call(api.GET("/api/v1/deadletters", { params: { query } })), params.toString());
  return (
    <Page title="Dead letters">
      <p className="lead">Messages that will never be processed, and why. Nothing is lost: each one is kept here.</p>
      <Filters filters={[{ name: "reason", label: "Reason", placeholder: "invalid_body" }]} />
      <ListBody list={list} empty="No dead letters.">
        {(rows) => rows.map((letter) => <Letter key={letter.seq} letter={letter} />)}
      </ListBody>
    </Page>
  );
}
