// Chunked, resumable upload (POST /api/v1/uploads, PUT chunks with Content-Range,
// POST .../complete). A dropped connection resumes from the server's offset; the upload
// id is kept in localStorage so a reload of the page can resume the same file.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const CHUNK = 8 * 1024 * 1024;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
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

  async function hashFile(file) {
    const sha = new Sha256();
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
      sha.update(chunk);
      bar.value = Math.round((100 * Math.min(offset + CHUNK, file.size)) / file.size);
    }
    return sha.hex();
  }

  async function errorText(response) {
    try { const data = await response.json(); return data.error ? data.error.message : response.statusText; }
    catch (e) { return response.statusText; }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.file.files[0];
    if (!file) return;
    button.disabled = true;
    document.getElementById("progress-card").hidden = false;
    try {
      phase.textContent = "Computing SHA-256 of " + file.name + "…";
      const sha256 = await hashFile(file);
      const key = "vms-upload:" + sha256 + ":" + file.size;
      let uploadId = localStorage.getItem(key);
      let offset = 0;
      if (uploadId) {
        const r = await api("GET", "/api/v1/uploads/" + uploadId);
        if (r.ok) { const s = await r.json(); if (s.state === "receiving") offset = s.received; else uploadId = null; }
        else uploadId = null;
      }
      if (!uploadId) {
        const meta = {
          filename: file.name, size: file.size, sha256,
          source: form.source.value, device_id: form.device_id.value,
          officer_badge: form.officer_badge.value || null,
          recorded_at: form.recorded_at.value || null,
          title: form.title.value || null, case_number: form.case_number.value || null,
          categories: Array.from(form.categories.selectedOptions).map((o) => o.value),
        };
        const r = await api("POST", "/api/v1/uploads", JSON.stringify(meta), { "Content-Type": "application/json" });
        if (!r.ok) throw new Error(await errorText(r));
        uploadId = (await r.json()).id;
        localStorage.setItem(key, uploadId);
      }
      phase.textContent = "Uploading " + file.name + "…";
      let failures = 0;
      while (offset < file.size) {
        const end = Math.min(offset + CHUNK, file.size) - 1;
        let r;
        try {
          r = await api("PUT", "/api/v1/uploads/" + uploadId, file.slice(offset, end + 1), {
            "Content-Range": "bytes " + offset + "-" + end + "/" + file.size,
            "Content-Type": "application/octet-stream",
          });
        } catch (e) {
          r = null;
        }
        if (r && r.ok) {
          offset = (await r.json()).received;
          failures = 0;
        } else {
          if (++failures > 20) throw new Error(r ? await errorText(r) : "network error");
          status.textContent = "Connection problem, resuming… (" + failures + ")";
          await new Promise((ok) => setTimeout(ok, Math.min(1000 * failures, 10000)));
          const s = await api("GET", "/api/v1/uploads/" + uploadId);
          if (s.ok) offset = (await s.json()).received;
        }
        bar.value = Math.round((100 * offset) / file.size);
        status.textContent = Math.round(offset / 1048576) + " of " + Math.round(file.size / 1048576) + " MiB";
      }
      phase.textContent = "Verifying and cataloguing…";
      const r = await api("POST", "/api/v1/uploads/" + uploadId + "/complete");
      if (!r.ok) throw new Error(await errorText(r));
      const done = await r.json();
      localStorage.removeItem(key);
      phase.textContent = done.duplicate ? "Already in the catalog (duplicate)." : "Uploaded and verified.";
      status.innerHTML = "";
      const link = document.createElement("a");
      link.href = "/media/" + done.media.id;
      link.textContent = "Open the catalogued item";
      status.appendChild(link);
    } catch (e) {
      phase.textContent = "Upload failed";
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
})();
