"""docs/commands.md's picture of ``charrnn viz --html``: the page rendered by Debian's
headless Chromium (through Selenium), with one unit chosen in its menu and
the tooltip of one character shown.

    python bench/viz_picture.py PAGE.html OUT.png [--unit K] [--hover I]
"""

import argparse
import pathlib
import shutil
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page")
    parser.add_argument("out")
    parser.add_argument("--unit", type=int, default=0, help="the menu entry to show")
    parser.add_argument("--hover", type=int, default=200, help="the character to hover")
    parser.add_argument("--size", default="1100,760")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={args.size}",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(pathlib.Path(args.page).resolve().as_uri())
        Select(driver.find_element(By.ID, "unit")).select_by_index(args.unit)
        span = driver.find_elements(By.CSS_SELECTOR, "#text span")[args.hover]
        ActionChains(driver).move_to_element(span).perform()
        time.sleep(0.2)
        driver.save_screenshot(args.out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
