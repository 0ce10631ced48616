// The application bench/adapters.sh serves, written once per framework:
// GET /users/:id -> {"id":"<id>","name":"user <id>"} as JSON, anything else a
// JSON 404. The same bytes from valk-aio's native handler, a Hono app and an
// Express app.
'use strict';

const JSON_TYPE = 'application/json; charset=utf-8';

/** The answer to /users/:id. */
function user(id) {
  return { id, name: `user ${id}` };
}

/** valk-aio's native handler: the same JSON, no framework. */
function nativeHandler(req) {
  if (req.path.startsWith('/users/')) {
    return { status: 200, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(user(req.path.slice(7))) };
  }
  return { status: 404, headers: { 'content-type': JSON_TYPE }, body: '{"error":"not found"}' };
}

function honoApp() {
  const { Hono } = require('hono');
  const app = new Hono();
  app.get('/users/:id', (c) => c.json(user(c.req.param('id'))));
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  return app;
}

function expressApp() {
  const express = require('express');
  const app = express();
  app.get('/users/:id', (req, res) => { res.json(user(req.params.id)); });
  app.use((req, res) => { res.status(404).json({ error: 'not found' }); });
  return app;
}

module.exports = { JSON_TYPE, expressApp, honoApp, nativeHandler, user };
