import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the console on :5173 and forwards the API's paths to a running API
// (ATTUNE_API_URL, default the `attune up` address), so the session cookie stays same-origin.
const api = process.env.ATTUNE_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": api, "/auth": api, "/health": api } },
});
