// An independent ONVIF client (the npm package "onvif") against a camera:
// connect, get the stream URI, continuous move, status, stop, status.
// Usage: node onvif_peer.js HOST PORT USER PASSWORD  -> one JSON line on stdout.
// Licence: AGPL-3.0-or-later.
'use strict';

const { Cam } = require('onvif');

const [host, port, username, password] = process.argv.slice(2);

function call(cam, method, options) {
  return new Promise((resolve, reject) => {
    cam[method](options, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main() {
  const warnings = [];
  const cam = await new Promise((resolve, reject) => {
    const c = new Cam(
      { hostname: host, port: Number(port), username, password, timeout: 10000 },
      (err) => (err ? reject(err) : resolve(c)),
    );
    // Discovery (GetServices...) needs no credentials on an ONVIF camera; the library
    // reports a refused GetProfiles as a warning and connects without media.
    c.on('warning', (message) => warnings.push(message));
  });
  if (!cam.activeSource) {
    throw new Error(`connected without a media profile: ${warnings.join('; ')}`);
  }
  const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP' });
  await call(cam, 'continuousMove', { x: 0.5, y: 0.0, zoom: 0.0 });
  await sleep(400);
  const moving = await call(cam, 'getStatus', {});
  await call(cam, 'stop', { panTilt: true, zoom: true });
  const stopped = await call(cam, 'getStatus', {});
  process.stdout.write(JSON.stringify({
    uri: stream.uri,
    profile: cam.activeSource && cam.activeSource.profileToken,
    moving: moving.moveStatus,
    stopped: stopped.moveStatus,
    position: stopped.position,
  }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`onvif peer failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
