// Chunked, resumable upload (POST /api/v1/uploads, PUT chunks with Content-Range,
// POST .../complete). A dropped connection resumes from the server's offset; the upload
// id is kept in localStorage so a reload of the page can resume the same file.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  // The page says how big a chunk may be (never more than the server accepts).
  const CHUNK = parseInt(form.dataset.chunkBytes, 10) || 8 * 1024 * 1024;
  const MAX_FAILURES = 20;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const card = document.getElementById("progress-card");
  const bar = document.getElementById("upload-progress");
  const phase = document.getElementById("upload-phase");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");

  function api(method, url, body, headers) {
    return fetch(url, {
      method, body, credentials: "same-origin",
      headers: Object.assign({ "X-CSRF-Token": csrf }, headers || {}),
    });
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let value = bytes / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return value.toFixed(1) + " " + units[unit];
  }

  // Worth trying again: the network, a wrong offset (409: ask the server where it is),
  // timeouts, rate limits and server errors. Anything else is the request's fault.
  function retryable(response) {
    return response === null || response.status === 409 || response.status === 408 ||
      response.status === 429 || response.status >= 500;
  }

  async function hashFile(file) {
    const sha = new Sha256();
    const step = 8 * 1024 * 1024;
    for (let offset = 0; offset < file.size; offset += step) {
      const chunk = new Uint8Array(await file.slice(offset, offset + step).arrayBuffer());
      sha.update(chunk);
      bar.value = Math.round((100 * Math.min(offset + step, file.size)) / file.size);
    }
    return sha.hex();
  }

  async function errorText(response) {
    try {
      const data = await response.json();
      return data.error ? data.error.message : response.status + " " + response.statusText;
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  async function serverOffset(uploadId) {
    const s = await api("GET", "/api/v1/uploads/" + uploadId);
    if (!s.ok) throw new Error(await errorText(s));
    return (await s.json()).received;
  }

  function metadata(file, sha256) {
    const value = (name) => form.elements[name].value.trim() || null;
    return {
      filename: file.name, size: file.size, sha256,
      source: form.elements.source.value, device_id: form.elements.device_id.value.trim(),
      officer_badge: value("officer_badge"), recorded_at: value("recorded_at"),
      title: value("title"), case_number: value("case_number"),
      categories: Array.from(form.querySelectorAll('input[name="categories"]:checked'), (i) => i.value),
    };
  }

  async function upload(file) {
    phase.textContent = "Computing the SHA-256 of " + file.name + "…";
    status.textContent = size(file.size);
    const sha256 = await hashFile(file);
    const key = "vms-upload:" + sha256 + ":" + file.size;
    let uploadId = localStorage.getItem(key);
    let offset = 0;
    if (uploadId) {
      const r = await api("GET", "/api/v1/uploads/" + uploadId);
      const s = r.ok ? await r.json() : null;
      if (s && s.state === "receiving") offset = s.received; else uploadId = null;
    }
    if (!uploadId) {
      const r = await api("POST", "/api/v1/uploads", JSON.stringify(metadata(file, sha256)),
        { "Content-Type": "application/json" });
      if (!r.ok) throw new Error(await errorText(r));
      uploadId = (await r.json()).id;
      localStorage.setItem(key, uploadId);
    }
    phase.textContent = (offset ? "Resuming " : "Uploading ") + file.name + "…";
    bar.value = Math.round((100 * offset) / file.size);
    let failures = 0;
    while (offset < file.size) {
      const end = Math.min(offset + CHUNK, file.size) - 1;
      let r = null;
      try {
        r = await api("PUT", "/api/v1/uploads/" + uploadId, file.slice(offset, end + 1), {
          "Content-Range": "bytes " + offset + "-" + end + "/" + file.size,
          "Content-Type": "application/octet-stream",
        });
      } catch (e) {
        r = null; // network error: the server may or may not have the chunk
      }
      if (r && r.ok) {
        offset = (await r.json()).received;
        failures = 0;
        status.textContent = size(offset) + " of " + size(file.size);
      } else {
        if (!retryable(r)) throw new Error(await errorText(r));
        if (++failures > MAX_FAILURES) {
          throw new Error(r ? await errorText(r) : "the server could not be reached");
        }
        status.textContent = "Connection problem, resuming (attempt " + failures + ")…";
        await new Promise((ok) => setTimeout(ok, Math.min(500 * failures, 10000)));
        try { offset = await serverOffset(uploadId); } catch (e) { /* next round retries */ }
      }
      bar.value = Math.round((100 * offset) / file.size);
    }
    phase.textContent = "Verifying and cataloguing…";
    const r = await api("POST", "/api/v1/uploads/" + uploadId + "/complete");
    if (!r.ok) {
      // Refused for good (size or SHA-256 mismatch, not a video...): start afresh next
      // time. A server error keeps the id so that a retry resumes.
      if (r.status < 500) localStorage.removeItem(key);
      throw new Error(await errorText(r));
    }
    const done = await r.json();
    localStorage.removeItem(key);
    return done;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) return;
    button.disabled = true;
    card.hidden = false;
    card.classList.remove("failed");
    bar.value = 0;
    try {
      const done = await upload(file);
      bar.value = 100;
      phase.textContent = done.duplicate
        ? "Already in the catalog: this file was uploaded before from this device."
        : "Uploaded and verified.";
      status.textContent = "";
      const link = document.createElement("a");
      link.className = "button";
      link.href = "/media/" + done.media.id;
      link.textContent = "Open the catalogued item";
      status.appendChild(link);
      form.elements.file.value = "";
    } catch (e) {
      card.classList.add("failed");
      phase.textContent = "Upload failed";
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
})();
