"""Drives the citizen's page in a real headless browser (Debian's chromium, through chromium-driver and selenium).

Usage: citizen_page.py URL SCREENSHOT  (URL is https://host:port/citizen#token=...)

Waits for the page to finish loading its list (body[data-state]), then prints one JSON object: the state, the status
line, each row's event id, purpose, decision and cells, each node's status, the address bar (the token must have left
it), whether the token is in session storage, and the proof text shown after clicking the first row's proof button.
The node's self-signed certificate is pinned by the gateway's clients, not by a CA: the browser is told to accept it.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, screenshot = sys.argv[1], sys.argv[2]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--ignore-certificate-errors",
             "--window-size=1400,1000"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.set_page_load_timeout(120)
    driver.get(url)
    # Waits for an event (the page marks its state when the list arrived or failed), within a generous bound.
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state"))
    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, "#accesses tbody tr"):
        rows.append({
            "eventId": row.get_attribute("data-event-id"),
            "purpose": row.get_attribute("data-purpose"),
            "decision": row.get_attribute("data-decision"),
            "cells": [cell.text for cell in row.find_elements(By.TAG_NAME, "td")],
        })
    nodes = [{"node": item.get_attribute("data-node"), "status": item.get_attribute("data-status")}
             for item in driver.find_elements(By.CSS_SELECTOR, "#node-list li")]
    proof = ""
    buttons = driver.find_elements(By.CSS_SELECTOR, "#accesses tbody tr button")
    if buttons:
        buttons[0].click()
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "proof").text.strip() != "")
        proof = driver.find_element(By.ID, "proof").text
    driver.save_screenshot(screenshot)
    print(json.dumps({
        "state": driver.find_element(By.TAG_NAME, "body").get_attribute("data-state"),
        "status": driver.find_element(By.ID, "status").text,
        "rows": rows,
        "nodes": nodes,
        "address": driver.current_url,
        "tokenStored": driver.execute_script("return sessionStorage.getItem('dg-citizen-token') !== null"),
        "proof": proof,
    }))
finally:
    driver.quit()
