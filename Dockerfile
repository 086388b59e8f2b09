# Production image: compiled JavaScript, production dependencies only, non-root, node started directly (exec form).
# No Docker engine runs in this workplace: test/integration/production-image.test.ts builds the runtime layout
# from this file's COPY and RUN lines (compile, prune, copy only what the final stage copies), starts it under
# the Node major of the FROM line and checks it answers. Change this file and that test follows it.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 (the embedded default, never loaded on MySQL) and pkcs11js (the key agent's, a dev dependency)
# are built from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# tsconfig.build.json leaves the key agent and demo:seed out of dist/. Pruning the dev dependencies also drops
# tsx, TypeScript and the key agent's own (ws, graphene-pk11 with its native pkcs11js): the server needs none.
# TypeScript itself survives the prune (npm marks it devOptional: valibot, under bull-board, names it as an optional
# peer for its type definitions only), so it is removed by hand: nothing loads it at run time.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf node_modules/typescript

FROM node:24-bookworm-slim
ENV NODE_ENV=production APP_ENV=production PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# Everything the server reads at run time beside dist/: package.json marks the project root (lib/paths.ts),
# views/ the nunjucks pages, public/ the /capc/ page's script and stylesheet (read at start), config/ the
# project rules (CERT_PROJECTS_FILE) and the menu (`node dist/src/cli/wechat-menu.js`).
COPY --chown=node:node package.json ./
COPY --chown=node:node views ./views
COPY --chown=node:node public ./public
COPY --chown=node:node config ./config
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# node directly (not npm start): npm does not pass SIGTERM on, and the app drains requests on SIGTERM.
# Operator commands run from dist/ too: docker exec <container> node dist/src/cli/<command>.js (README, "The image").
CMD ["node", "dist/src/main.js"]
