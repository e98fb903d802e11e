"""Drives the regulator's dashboard in a real headless browser (Debian's chromium, through chromium-driver and selenium).

Usage: dashboard_page.py URL SCREENSHOT_PREFIX

Waits for the page to finish loading (body[data-state]), then prints one JSON object: the state, the status line, the
plot's bars (day, department, decision, count), the rows of the denials, purposes, grants, consents and validators
tables, the newest events' ids; then the result of checking the first event's proof in the browser, and the result
for a proof tampered on its way to the page (the test wraps the page's fetch so one byte of the transaction changes:
the page, not the server, must notice). Screenshots: PREFIX-overview.png, PREFIX-verified.png, PREFIX-tampered.png.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, prefix = sys.argv[1], sys.argv[2]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2200"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def rows(table, *keys):
    out = []
    for row in driver.find_elements(By.CSS_SELECTOR, table + " tbody tr"):
        out.append({"cells": [cell.text for cell in row.find_elements(By.TAG_NAME, "td")],
                    **{key: row.get_attribute("data-" + key) for key in keys}})
    return out


def check(index):
    """Clicks event `index`'s verify button and waits for the page's verdict."""
    status = driver.find_element(By.ID, "proof-status")
    driver.execute_script("arguments[0].dataset.result = ''", status)
    driver.find_elements(By.CSS_SELECTOR, "#events tbody tr button")[index].click()
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "proof-status").get_attribute("data-result"))
    return {"result": status.get_attribute("data-result"), "text": status.text}


try:
    driver.set_page_load_timeout(120)
    driver.get(url)
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state"))
    driver.save_screenshot(prefix + "-overview.png")
    bars = [{"day": bar.get_attribute("data-day"), "department": bar.get_attribute("data-department"),
             "decision": bar.get_attribute("data-decision"), "count": int(bar.get_attribute("data-count"))}
            for bar in driver.find_elements(By.CSS_SELECTOR, "#plot svg rect")]
    events = [row.get_attribute("data-event-id") for row in driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")]
    verified = check(0) if events else None
    driver.save_screenshot(prefix + "-verified.png")
    # A proof tampered in transit: one hex digit of the transaction flipped before the page sees it.
    driver.execute_script("""
        const original = window.fetch;
        window.fetch = async (...args) => {
          const response = await original(...args);
          if (!String(args[0]).startsWith('/api/proof')) return response;
          const view = await response.json();
          const t = view.proof.transaction, i = Math.floor(t.length * 0.6);
          view.proof.transaction = t.slice(0, i) + (t[i] === '0' ? '1' : '0') + t.slice(i + 1);
          return new Response(JSON.stringify(view), {status: 200, headers: {'content-type': 'application/json'}});
        };
    """)
    tampered = check(0) if events else None
    driver.save_screenshot(prefix + "-tampered.png")
    print(json.dumps({
        "state": driver.find_element(By.TAG_NAME, "body").get_attribute("data-state"),
        "status": driver.find_element(By.ID, "status").text,
        "totalEvents": driver.find_element(By.TAG_NAME, "body").get_attribute("data-total-events"),
        "bars": bars,
        "denials": rows("#denials", "count"),
        "purposes": rows("#purposes", "purpose", "decision", "count"),
        "grants": rows("#grants", "grant-id"),
        "consents": rows("#consents", "purpose"),
        "validators": rows("#validators", "epoch"),
        "events": events,
        "verified": verified,
        "tampered": tampered,
    }))
finally:
    driver.quit()
