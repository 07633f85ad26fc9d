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
export const ENFORCEMENT_STATUSES: readonly Schemas["Enforcement"]["status"][] = ["created", "processed", "disabled"];
