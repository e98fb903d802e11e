import Hummingbird
import NIOCore

/// The citizen's page: a static page and script that show the list of GET /v1/citizen/accesses. The token arrives in
/// the URL's fragment (`/citizen#token=…`, which browsers never send to a server or in a Referer), moves to the tab's
/// session storage, and leaves the address bar. Everything shown is set as text, never parsed as HTML: the list holds
/// strings other nodes wrote. The content security policy allows only this node's own script and requests.
enum CitizenPage {
    static func register(on router: Router<GatewayContext>) {
        router.get("citizen") { _, _ in page(html, type: "text/html; charset=utf-8") }
        router.get("citizen/app.js") { _, _ in page(script, type: "text/javascript; charset=utf-8") }
        router.get("citizen/style.css") { _, _ in page(style, type: "text/css; charset=utf-8") }
    }

    static func page(_ text: String, type: String) -> Response {
        StaticPage.response(
            text, type: type,
            policy:
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    }

    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Who used my data — DataGateway</title>
        <link rel="stylesheet" href="/citizen/style.css">
        <script src="/citizen/app.js" defer></script>
        </head>
        <body>
        <header>
        <h1>Who used my data</h1>
        <p>Every access to your records on every department's node, as the consortium's chain records it: who asked,
        when, for what purpose, what was decided and by which policy.</p>
        </header>
        <main>
        <p id="status" role="status">Loading…</p>
        <form id="signin" hidden>
        <p>Sign in at your department to see your list. If your department gave you a token, paste it here.</p>
        <label for="token">Token</label> <input id="token" name="token" autocomplete="off" required>
        <button type="submit">Show my list</button>
        </form>
        <table id="accesses" hidden>
        <thead><tr><th>When</th><th>Who</th><th>What</th><th>Purpose</th><th>Decision</th><th>Policy</th><th>On chain</th></tr></thead>
        <tbody></tbody>
        </table>
        <section id="nodes" hidden>
        <h2>Departments' nodes asked</h2>
        <ul id="node-list"></ul>
        </section>
        <pre id="proof" hidden></pre>
        </main>
        </body>
        </html>

        """

    static let style = """
        body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1b1b; }
        table { border-collapse: collapse; width: 100%; }
        th, td { border-bottom: 1px solid #ccc; padding: .4rem .5rem; text-align: left; vertical-align: top; }
        td.deny { color: #a00; font-weight: 600; }
        td.allow { color: #060; }
        .deferred { display: block; font-size: .85em; color: #555; }
        .unavailable { color: #a00; }
        pre { background: #f4f4f4; padding: 1rem; overflow: auto; max-height: 20rem; }

        """

    static let script = """
        "use strict";
        (function () {
          const status = document.getElementById("status");
          function say(text) { status.textContent = text; }
          function cell(row, text, cls) {
            const td = document.createElement("td");
            td.textContent = text;
            if (cls) td.className = cls;
            row.appendChild(td);
            return td;
          }
          function when(ms) { return new Date(ms).toISOString().replace("T", " ").replace(/\\.\\d+Z$/, " UTC"); }
          function token() {
            const match = /^#token=([A-Za-z0-9._~-]+)$/.exec(window.location.hash);
            if (match) {
              sessionStorage.setItem("dg-citizen-token", match[1]);
              history.replaceState(null, "", window.location.pathname);
            }
            return sessionStorage.getItem("dg-citizen-token");
          }
          async function call(path, bearer) {
            const response = await fetch(path, { headers: { "Authorization": "Bearer " + bearer }, cache: "no-store" });
            const body = await response.json();
            if (!response.ok) {
              const error = new Error(body.detail || ("the node answered " + response.status));
              error.code = body.code;
              throw error;
            }
            return body;
          }
          async function showProof(bearer, eventId) {
            const out = document.getElementById("proof");
            out.hidden = false;
            try {
              const proof = await call("/v1/citizen/proofs/" + encodeURIComponent(eventId), bearer);
              out.textContent = JSON.stringify(proof, null, 2);
              out.dataset.eventId = eventId;
            } catch (error) {
              out.textContent = "No proof: " + error.message;
            }
          }
          function render(list, bearer) {
            const table = document.getElementById("accesses");
            const body = table.querySelector("tbody");
            body.replaceChildren();
            for (const access of list.accesses) {
              const row = document.createElement("tr");
              row.dataset.eventId = access.eventId;
              row.dataset.purpose = access.purpose;
              row.dataset.decision = access.decision;
              cell(row, when(access.timestampMs));
              cell(row, access.requester + (access.role ? " / " + access.role : ""));
              cell(row, access.action + " " + access.category + " (node " + access.node + ")");
              const purpose = cell(row, access.purpose);
              if (access.disclosure) {
                const note = document.createElement("span");
                note.className = "deferred";
                note.textContent = access.disclosure.releasedAtHeight
                  ? "hidden from you until its release at block " + access.disclosure.releasedAtHeight
                  : "hidden from you until " + when(access.disclosure.discloseAtMs);
                purpose.appendChild(note);
              }
              cell(row, access.decision, access.decision);
              cell(row, access.policies.length ? access.policies.join(", ") : "no policy permits it (default deny)");
              const chain = cell(row, "block " + access.height + " ");
              const button = document.createElement("button");
              button.type = "button";
              button.textContent = "proof";
              button.addEventListener("click", () => showProof(bearer, access.eventId));
              chain.appendChild(button);
              body.appendChild(row);
            }
            table.hidden = list.accesses.length === 0;
            const nodes = document.getElementById("node-list");
            nodes.replaceChildren();
            for (const node of list.nodes) {
              const item = document.createElement("li");
              item.dataset.node = node.node;
              item.dataset.status = node.status;
              item.textContent = node.node + ": " + (node.status === "answered" ? "answered" : "unavailable — " + (node.detail || ""));
              if (node.status !== "answered") item.className = "unavailable";
              nodes.appendChild(item);
            }
            document.getElementById("nodes").hidden = false;
            const count = list.accesses.length;
            say((count === 0 ? "No access to your records is recorded." : count + (count === 1 ? " access" : " accesses") + " to your records.")
              + (list.truncated ? " Only the newest are listed." : "") + " As of " + when(list.asOfMs) + ".");
            document.body.dataset.state = "loaded";
          }
          async function load() {
            const bearer = token();
            if (!bearer) {
              say("You are not signed in.");
              document.getElementById("signin").hidden = false;
              document.body.dataset.state = "signed-out";
              return;
            }
            try {
              render(await call("/v1/citizen/accesses", bearer), bearer);
            } catch (error) {
              if (error.code === "invalid_token") {
                sessionStorage.removeItem("dg-citizen-token");
                document.getElementById("signin").hidden = false;
              }
              say("Your list could not be shown: " + error.message);
              document.body.dataset.state = "error";
            }
          }
          document.getElementById("signin").addEventListener("submit", (event) => {
            event.preventDefault();
            const value = document.getElementById("token").value.trim();
            if (/^[A-Za-z0-9._~-]+$/.test(value)) sessionStorage.setItem("dg-citizen-token", value);
            document.getElementById("signin").hidden = true;
            load();
          });
          load();
        })();

        """
}

/// A page, script or style the gateway serves itself: not cached, not sniffed, no referrer, under `policy`.
enum StaticPage {
    static func response(_ text: String, type: String, policy: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-store", .contentSecurityPolicy: policy, .init("Referrer-Policy")!: "no-referrer",
                .init("X-Content-Type-Options")!: "nosniff",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
