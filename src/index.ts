import { app } from "./app";
import { scheduled } from "./scheduled";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    await scheduled(controller, env, ctx);
  },
} satisfies ExportedHandler<Cloudflare.Env>;
