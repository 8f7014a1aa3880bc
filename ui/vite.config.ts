import { defineConfig } from "vite";

// The server serves ui/dist itself, on the same origin as /api and /ws. During
// `npm run dev`, those are proxied to a locally running aula-server (AULA_SERVER).
const server = process.env.AULA_SERVER ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    proxy: {
      "/api": { target: server, changeOrigin: true },
      "/ws": { target: server.replace(/^http/, "ws"), ws: true },
    },
  },
});
