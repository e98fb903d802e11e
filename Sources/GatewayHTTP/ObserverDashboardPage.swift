// The dashboard's page, script and style. Everything the server sends is set as text, never parsed as HTML (the log
// holds strings that departments' nodes wrote). Plots are SVG drawn by the script; each bar carries its numbers as
// data attributes, so what is drawn can be checked against the API.
extension ObserverDashboard {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Access log — DataGateway regulator</title>
        <link rel="stylesheet" href="/dashboard.css">
        <script src="/dashboard.js" defer></script>
        </head>
        <body>
        <header>
        <h1>Access log at a glance</h1>
        <p id="status">Loading the observer's verified copy of the chain…</p>
        </header>
        <main>
        <section><h2>Accesses per day, by department and decision</h2><div id="plot"></div><ul id="legend"></ul></section>
        <section><h2>Denials and their reasons</h2>
        <table id="denials"><thead><tr><th>Department</th><th>Purpose</th><th>Determined by</th><th>Count</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Purposes</h2>
        <table id="purposes"><thead><tr><th>Purpose</th><th>Decision</th><th>Count</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Live grants</h2>
        <table id="grants"><thead><tr><th>Grant</th><th>From</th><th>To</th><th>Category</th><th>Purpose</th><th>Expires</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Consents (per purpose)</h2>
        <table id="consents"><thead><tr><th>Purpose</th><th>Given</th><th>Withdrawn</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Validator sets</h2>
        <table id="validators"><thead><tr><th>From height</th><th>Epoch</th><th>Validators</th></tr></thead><tbody></tbody></table>
        <h2>Approved policy bundles</h2><ol id="bundles"></ol></section>
        <section><h2>Newest events</h2>
        <table id="events"><thead><tr><th>Time (UTC)</th><th>Height</th><th>Department</th><th>Action</th><th>Purpose</th><th>Decision</th><th>Proof</th></tr></thead><tbody></tbody></table>
        <div id="proof-panel"><p id="proof-status" data-result="">Choose an event to check its inclusion proof here, in the browser.</p><pre id="proof-detail"></pre></div></section>
        </main>
        </body>
        </html>
        """#

    static let style = #"""
        body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1f23; }
        section { margin-bottom: 1.8rem; }
        table { border-collapse: collapse; }
        th, td { border-bottom: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; font-size: 0.9rem; }
        #legend { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
        #legend span { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; }
        #proof-status[data-result="verified"] { color: #1a7f37; font-weight: bold; }
        #proof-status[data-result="failed"] { color: #cf222e; font-weight: bold; }
        pre { background: #f6f8fa; padding: 0.6rem; white-space: pre-wrap; word-break: break-all; font-size: 0.8rem; }
        """#

    static let script = #"""
        "use strict";
        const palette = ["#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#e16f24", "#116329"];

        function cell(row, text) { const td = document.createElement("td"); td.textContent = String(text); row.appendChild(td); return td; }
        function rowIn(table, data) { const tr = document.createElement("tr"); for (const [k, v] of Object.entries(data)) tr.dataset[k] = String(v); document.querySelector(table + " tbody").appendChild(tr); return tr; }

        // --- hashes: SHA-256 through WebCrypto, SM3 (GB/T 32905) here ---
        function rotl(x, n) { n %= 32; return ((x << n) | (x >>> (32 - n))) >>> 0; }
        function sm3(bytes) {
          const length = bytes.length;
          const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
          padded.set(bytes); padded[length] = 0x80;
          const view = new DataView(padded.buffer);
          view.setUint32(padded.length - 8, Math.floor(length / 0x20000000)); view.setUint32(padded.length - 4, (length * 8) >>> 0);
          let v = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];
          const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
          const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
          for (let offset = 0; offset < padded.length; offset += 64) {
            const w = new Array(68), w1 = new Array(64);
            for (let j = 0; j < 16; j++) w[j] = view.getUint32(offset + 4 * j);
            for (let j = 16; j < 68; j++) w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
            for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
            let [a, b, c, d, e, f, g, h] = v;
            for (let j = 0; j < 64; j++) {
              const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
              const ss1 = rotl((rotl(a, 12) + e + rotl(t, j)) >>> 0, 7);
              const ss2 = (ss1 ^ rotl(a, 12)) >>> 0;
              const ff = j < 16 ? (a ^ b ^ c) : ((a & b) | (a & c) | (b & c));
              const gg = j < 16 ? (e ^ f ^ g) : ((e & f) | (~e & g));
              const tt1 = ((ff >>> 0) + d + ss2 + w1[j]) >>> 0;
              const tt2 = ((gg >>> 0) + h + ss1 + w[j]) >>> 0;
              d = c; c = rotl(b, 9); b = a; a = tt1; h = g; g = rotl(f, 19); f = e; e = p0(tt2);
            }
            v = [a ^ v[0], b ^ v[1], c ^ v[2], d ^ v[3], e ^ v[4], f ^ v[5], g ^ v[6], h ^ v[7]].map((x) => x >>> 0);
          }
          const out = new Uint8Array(32); const ov = new DataView(out.buffer);
          v.forEach((x, i) => ov.setUint32(4 * i, x));
          return out;
        }
        async function hashWith(suite, bytes) {
          if (suite === "sm") return sm3(bytes);
          return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        }
        function concat(...parts) { const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let at = 0; for (const p of parts) { out.set(p, at); at += p.length; } return out; }
        function unhex(text) {
          if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) throw new Error("not hex");
          const out = new Uint8Array(text.length / 2);
          for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
          return out;
        }
        function equal(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }

        // --- the canonical encoding (docs/evidence-bundle.md §2, §4) ---
        class Reader {
          constructor(data) { this.data = data; this.at = 0; }
          u8() { if (this.at >= this.data.length) throw new Error("encoding ends early"); return this.data[this.at++]; }
          u64() { if (this.data.length - this.at < 8) throw new Error("encoding ends early"); let v = 0n; for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.data[this.at++]); return v; }
          bytes() { const n = this.u64(); if (n > BigInt(this.data.length - this.at)) throw new Error("length exceeds the data"); const out = this.data.slice(this.at, this.at + Number(n)); this.at += Number(n); return out; }
          string() { return new TextDecoder("utf-8", { fatal: true }).decode(this.bytes()); }
        }
        function eventIDs(transaction) {
          const outer = new Reader(transaction); const signed = new Reader(outer.bytes());
          if (signed.string() !== "datagateway/tx/v1") throw new Error("unknown transaction version");
          signed.string(); const kind = signed.u8(); signed.string(); signed.u64(); signed.u64();
          const payload = signed.bytes();
          if (kind === 2) return [new Reader(payload).string()];
          if (kind === 5) {
            const batch = new Reader(payload);
            if (batch.string() !== "datagateway/access-batch/v1") throw new Error("unknown batch version");
            const count = Number(batch.u64()); const ids = [];
            for (let i = 0; i < count; i++) ids.push(new Reader(batch.bytes()).string());
            return ids;
          }
          throw new Error("the transaction is not an access event or batch");
        }
        function header(bytes) {
          const r = new Reader(bytes);
          if (r.string() !== "datagateway/header/v2") throw new Error("unknown header version");
          const chainID = r.string(); const height = r.u64(); r.u64(); r.bytes(); const root = r.bytes(); const count = r.u64();
          return { chainID, height, root, count };
        }
        // RFC 9162 §2.1.3.2
        async function verifyInclusion(suite, index, size, leaf, path, root) {
          if (index >= size) return false;
          let fn = index, sn = size - 1n, r = leaf;
          for (const p of path) {
            if (sn === 0n) return false;
            if ((fn & 1n) === 1n || fn === sn) {
              r = await hashWith(suite, concat(Uint8Array.of(1), p, r));
              if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
            } else {
              r = await hashWith(suite, concat(Uint8Array.of(1), r, p));
            }
            fn >>= 1n; sn >>= 1n;
          }
          return sn === 0n && equal(r, root);
        }

        async function checkProof(view, chainId) {
          const proof = view.proof;
          const transaction = unhex(proof.transaction);
          const head = header(unhex(proof.header));
          if (head.chainID !== chainId) throw new Error("the proof is for chain " + head.chainID);
          if (head.height !== BigInt(view.height)) throw new Error("the proof's block is at height " + head.height);
          if (!eventIDs(transaction).includes(view.eventId)) throw new Error("the transaction does not carry event " + view.eventId);
          const leaf = await hashWith(view.suite, concat(Uint8Array.of(0), transaction));
          const ok = await verifyInclusion(view.suite, BigInt(proof.leafIndex), head.count, leaf, proof.auditPath.map(unhex), head.root);
          if (!ok) throw new Error("the transaction is not under the block's transactions root");
          return "the transaction carrying it is leaf " + proof.leafIndex + " of " + head.count + " under the root of block " + head.height + " (" + view.suite + ")";
        }

        function plot(perDay) {
          const days = [...new Set(perDay.map((c) => c.day))].sort();
          const series = [...new Set(perDay.map((c) => c.department + " · " + c.decision))].sort();
          const totals = days.map((d) => perDay.filter((c) => c.day === d).reduce((n, c) => n + c.count, 0));
          const top = Math.max(1, ...totals);
          const ns = "http://www.w3.org/2000/svg";
          const width = Math.max(320, 60 * days.length + 60), height = 220;
          const svg = document.createElementNS(ns, "svg");
          svg.setAttribute("width", width); svg.setAttribute("height", height + 30); svg.setAttribute("role", "img");
          days.forEach((day, i) => {
            let y = height;
            for (const c of perDay.filter((c) => c.day === day)) {
              const h = Math.max(1, Math.round((c.count / top) * (height - 10)));
              y -= h;
              const rect = document.createElementNS(ns, "rect");
              rect.setAttribute("x", 40 + 60 * i); rect.setAttribute("y", y); rect.setAttribute("width", 40); rect.setAttribute("height", h);
              rect.setAttribute("fill", palette[series.indexOf(c.department + " · " + c.decision) % palette.length]);
              rect.dataset.day = day; rect.dataset.department = c.department; rect.dataset.decision = c.decision; rect.dataset.count = c.count;
              const title = document.createElementNS(ns, "title"); title.textContent = day + " " + c.department + " " + c.decision + ": " + c.count;
              rect.appendChild(title); svg.appendChild(rect);
            }
            const label = document.createElementNS(ns, "text");
            label.setAttribute("x", 40 + 60 * i); label.setAttribute("y", height + 18); label.setAttribute("font-size", "10");
            label.textContent = day.slice(5); svg.appendChild(label);
          });
          document.getElementById("plot").appendChild(svg);
          for (const s of series) {
            const li = document.createElement("li"); const swatch = document.createElement("span");
            swatch.style.background = palette[series.indexOf(s) % palette.length]; li.appendChild(swatch); li.append(s);
            document.getElementById("legend").appendChild(li);
          }
        }

        async function main() {
          const summary = await (await fetch("/api/summary")).json();
          const events = await (await fetch("/api/events?limit=50")).json();
          document.getElementById("status").textContent = "Chain " + summary.chainId + " (" + summary.suite + "), verified by this observer up to height " + summary.height + ": " + summary.totalEvents + " access events.";
          document.body.dataset.totalEvents = summary.totalEvents;
          plot(summary.accessesPerDay);
          for (const d of summary.denials) { const tr = rowIn("#denials", { count: d.count }); cell(tr, d.department); cell(tr, d.purpose); cell(tr, d.reason); cell(tr, d.count); }
          for (const p of summary.purposes) { const tr = rowIn("#purposes", { purpose: p.purpose, decision: p.decision, count: p.count }); cell(tr, p.purpose); cell(tr, p.decision); cell(tr, p.count); }
          for (const g of summary.grants) { const tr = rowIn("#grants", { grantId: g.grantId }); cell(tr, g.grantId); cell(tr, g.grantor); cell(tr, g.grantee); cell(tr, g.category); cell(tr, g.purpose); cell(tr, new Date(g.expiresAtMs).toISOString()); }
          for (const c of summary.consents) { const tr = rowIn("#consents", { purpose: c.purpose }); cell(tr, c.purpose); cell(tr, c.given); cell(tr, c.withdrawn); }
          for (const v of summary.validatorSets) { const tr = rowIn("#validators", { epoch: v.epoch }); cell(tr, v.fromHeight); cell(tr, v.epoch); cell(tr, v.validators.join(", ")); }
          for (const b of summary.policyBundles) { const li = document.createElement("li"); li.textContent = b; document.getElementById("bundles").appendChild(li); }
          for (const e of events) {
            const tr = rowIn("#events", { eventId: e.eventId, decision: e.decision });
            cell(tr, new Date(e.timestampMs).toISOString()); cell(tr, e.height); cell(tr, e.department + (e.role ? " / " + e.role : ""));
            cell(tr, e.action); cell(tr, e.purpose); cell(tr, e.decision);
            const button = document.createElement("button"); button.type = "button"; button.textContent = "verify";
            button.addEventListener("click", () => verifyEvent(e, summary.chainId));
            cell(tr, "").appendChild(button);
          }
          document.body.dataset.state = "ready";
        }

        async function verifyEvent(e, chainId) {
          const status = document.getElementById("proof-status"), detail = document.getElementById("proof-detail");
          status.dataset.result = ""; status.textContent = "Checking the proof of " + e.eventId + "…"; detail.textContent = "";
          try {
            const response = await fetch("/api/proof?event=" + encodeURIComponent(e.eventId) + "&transaction=" + e.transaction);
            const view = await response.json();
            if (!response.ok) throw new Error(view.detail || ("HTTP " + response.status));
            const how = await checkProof(view, chainId);
            status.dataset.result = "verified"; status.textContent = "Verified: event " + e.eventId + " is in block " + view.height + ".";
            detail.textContent = how;
          } catch (error) {
            status.dataset.result = "failed"; status.textContent = "Proof FAILED for " + e.eventId + ": " + error.message;
          }
        }

        main().catch((error) => { document.body.dataset.state = "error"; document.getElementById("status").textContent = "Could not load: " + error.message; });
        """#
}
