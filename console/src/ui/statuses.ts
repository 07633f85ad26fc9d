import type { Schemas } from "../api/client";

export const EXECUTION_STATUSES: readonly Schemas["Execution"]["status"][] = [
  "requested",
  "scheduling",
  "scheduled",
  "running",
  "completed",
  "failed",
  "canceling",
  "cancelled",
  "timeout",
  "abandoned",
  "pending",
  "pausing",
  "paused",
  "resuming",
];
export const FINISHED = new Set<string>(["completed", "failed", "cancelled", "timeout", "abandoned"]);
export const CANCELABLE = new Set<string>(["requested", "scheduling", "scheduled", "running"]);
/** A running workflow can be paused (its running tasks finish, no new one starts) … */
export const PAUSABLE = new Set<string>(["running", "resuming"]);
/** … and a pausing or paused one resumed. */
export const RESUMABLE = new Set<string>(["pausing", "paused"]);
export const INQUIRY_STATUSES: readonly Schemas["InquiryOut"]["status"][] = ["pending", "responded", "timeout", "cancelled"];
export const ENFORCEMENT_STATUSES: readonly Schemas["Enforcement"]["status"][] = ["created", "processed", "disabled"];
