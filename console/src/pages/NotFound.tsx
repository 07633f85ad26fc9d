import { Link } from "react-router";
import { Page } from "../ui/widgets";

export function NotFound() {
  return (
    <Page title="Not found">
      <p>
        Nothing lives at this address. <Link to="/">Back to the dashboard</Link>.
      </p>
    </Page>
  );
}
