"""The web dashboard in a real headless browser against the whole platform (sandbox, operator, facade, trainer).

A person signs in with an API key, watches a running LoRA job's loss curve grow, reads its worker log, stops it
with a checkpoint and resumes it from that checkpoint; submits a bad form and sees the error at the field; and
finds that another account's job looks exactly like a job that does not exist. Every page is photographed at
1280 px (and the jobs and job pages at phone width) under the test's folder, copied to $TENSORONE_SCREENSHOTS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tensorone.facade.testing import RunningFacade, running_facade
from tensorone.sandbox.testing import running_sandbox
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import InvalidStateError
from tests.helpers.browser import (
    DESKTOP,
    PHONE,
    Screenshots,
    browser_missing,
    chromium,
    console_errors,
    wait_for,
)

from .conftest import Platform, learnable_records, lora_config, put_language_assets, write_operator_settings


@dataclass
class Dashboard:
    platform: Platform
    facade: RunningFacade
    key: str
    dataset_id: str
    model: str


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("dashboard-platform")
    settings = root / "operator.yaml"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with (
        running_sandbox(root / "sandbox", gpus="a100=4,rtx4090=1") as sandbox,
        running_facade(str(sandbox.kubeconfig_path)) as facade,
    ):
        write_operator_settings(settings, sandbox)
        key = facade.new_key("default")
        client = TensorOneClient(api_key=key, base_url=facade.url, timeout=30)
        platform = Platform(sandbox, client, settings)
        platform.start_operator()
        try:
            model, data = put_language_assets(platform, tiny_model, learnable_records(600))
            dataset = client.datasets.create(name="zen", format="jsonl", source=data)
            yield Dashboard(platform, facade, key, dataset.id, model)
        finally:
            platform.kill_operator()
            platform.kube.close()
            client.close()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    missing = browser_missing()
    if (
        missing is not None
    ):  # `make test` installs it (make browser); a missing browser is a failure, not a skip
        pytest.fail(missing)
    with chromium(DESKTOP) as driver:
        yield driver
        assert console_errors(driver) == [], "the page logged errors"


def sign_in(driver: WebDriver, dashboard: Dashboard, shots: Screenshots | None = None) -> None:
    driver.get(f"{dashboard.facade.url}/ui/jobs")
    field = wait_for("the sign-in form", lambda: driver.find_element(By.ID, "api-key"))
    if shots:
        shots.take("01-sign-in")
    field.send_keys("not-a-key\n")
    error = wait_for("the refused key", lambda: visible(driver, "api-key-error"))
    assert error.text == "This API key is not valid."
    field.clear()
    field.send_keys(dashboard.key + "\n")
    wait_for("the jobs page", lambda: driver.find_elements(By.CSS_SELECTOR, "table.jobs"))
    assert driver.execute_script("return sessionStorage.getItem('tensorone.apiKey')") == dashboard.key
    assert driver.execute_script("return localStorage.length") == 0


def visible(driver: WebDriver, element_id: str) -> object:
    found = driver.find_elements(By.ID, element_id)
    return found[0] if found and found[0].is_displayed() else None


def status_of(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "job-status").text)


def plotted_points(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "chart-loss").get_attribute("data-points") or 0)


def click_button(driver: WebDriver, text: str) -> None:
    button = wait_for(
        f"the {text!r} button",
        lambda: next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == text), None),
    )
    button.click()


def fits_width(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_a_running_job_is_watched_stopped_resumed_and_its_log_read(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    shots = Screenshots(browser, tmp_path / "screenshots")
    client = dashboard.platform.client
    job = client.training.jobs.create(
        name="zen-lora",
        model_type="llm",
        dataset_id=dashboard.dataset_id,
        gpu_type="a100",
        max_workers=1,
        # Long enough to be stopped mid-run on a fast machine: 1,008 steps of 4 batches (1,008 steps of one batch
        # had all run, ~8 s, when CI's stop came; resumed "from step 1008" there was no curve left to continue).
        # Under 2,000 steps, so the status history keeps every point and the plotted count only grows.
        config=lora_config(dashboard.model, epochs=24, gradient_accumulation_steps=4, save_every_steps=20),
    )
    sign_in(browser, dashboard, shots)

    row = wait_for(
        "the job's row", lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-job-id='{job.id}']")
    )[0]
    assert "zen-lora" in row.text
    wait_for("the job to run", lambda: "running" in row.text, timeout=120)
    wait_for("GPU, workers and cost", lambda: "NVIDIA A100" in row.text)
    wait_for("progress and loss", lambda: "tokens/sec" in row.text, timeout=120)
    shots.take("02-jobs")

    row.find_element(By.LINK_TEXT, "zen-lora").click()
    wait_for("the job page", lambda: browser.find_elements(By.ID, "chart-loss"))
    first = wait_for(
        "a loss curve", lambda: plotted_points(browser) >= 2 and plotted_points(browser), timeout=120
    )
    grown = wait_for("the curve to grow", lambda: plotted_points(browser) > first and plotted_points(browser))
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-loss canvas"), "uPlot drew the curve"
    label = browser.find_element(By.ID, "chart-loss").get_attribute("aria-label")
    assert f"{grown} points" in str(label) or plotted_points(browser) > grown
    log = wait_for(
        "the followed worker log", lambda: "steps in all" in browser.find_element(By.ID, "log").text
    )
    assert log
    assert browser.find_element(By.ID, "live-cost").text.startswith("$")
    shots.take("03-job-running")

    click_button(browser, "Stop and save a checkpoint")
    wait_for("stopped", lambda: status_of(browser) == "stopped", timeout=180)
    rows = wait_for(
        "a checkpoint row", lambda: browser.find_elements(By.CSS_SELECTOR, "table.checkpoints tbody tr")
    )
    stopped_at = plotted_points(browser)
    checkpoint_id = rows[-1].find_element(By.TAG_NAME, "th").text
    assert checkpoint_id == client.training.jobs.get(job.id).checkpoints[-1].id
    events = browser.find_element(By.CSS_SELECTOR, ".timeline").text
    assert events
    assert events != "No events yet."
    shots.take("04-job-stopped")

    browser.set_window_size(*PHONE)
    wait_for("the phone layout", lambda: fits_width(browser))
    shots.take("05-job-phone")
    browser.set_window_size(*DESKTOP)

    rows[-1].find_element(By.TAG_NAME, "button").click()
    wait_for("the resumed job to run", lambda: status_of(browser) in {"running", "completed"}, timeout=120)
    wait_for("the curve to continue", lambda: plotted_points(browser) > stopped_at, timeout=120)
    resumed = client.training.jobs.get(job.id)
    assert dashboard.platform.job_resource(job.id)["spec"]["resumeFrom"] == checkpoint_id
    assert resumed.status in {"running", "completed"}
    shots.take("06-job-resumed")

    browser.find_element(By.LINK_TEXT, "Jobs").click()
    wait_for("the list", lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-job-id='{job.id}']"))
    browser.set_window_size(*PHONE)
    wait_for("the phone layout", lambda: fits_width(browser))
    shots.take("07-jobs-phone")
    try:
        client.training.jobs.stop(job.id, save_checkpoint=False)
    except InvalidStateError:  # the resumed job finished first: nothing left running to stop
        assert client.training.jobs.get(job.id).status == "completed"


def test_a_bad_form_shows_the_error_at_its_field_and_a_good_one_its_estimate(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    shots = Screenshots(browser, tmp_path / "screenshots")
    sign_in(browser, dashboard)
    browser.get(f"{dashboard.facade.url}/ui/new")
    name = wait_for("the form", lambda: browser.find_element(By.ID, "common-name"))
    before = dashboard.platform.client.training.jobs.list(limit=100).pagination.total
    name.send_keys("from the form")
    wait_for(
        "the dataset list",
        lambda: (
            Select(browser.find_element(By.ID, "common-datasetId")).first_selected_option.get_attribute(
                "value"
            )
            == dashboard.dataset_id
        ),
    )
    browser.find_element(By.ID, "llm-config-baseModel").send_keys(dashboard.model)
    rate = browser.find_element(By.ID, "llm-config-training-learning-rate")
    rate.send_keys("0.001")
    estimate = wait_for("the estimate", lambda: visible(browser, "estimate-total"))
    assert estimate.text.startswith("$")
    shots.take("08-create-estimate")

    rate.clear()
    rate.send_keys("5")
    browser.find_element(By.CSS_SELECTOR, "form.create button[type=submit]").click()
    error = wait_for("the field error", lambda: visible(browser, "llm-config-training-learning-rate-error"))
    refused = httpx.post(
        f"{dashboard.facade.url}/v2/training/jobs",
        headers={"Authorization": f"Bearer {dashboard.key}"},
        json={
            "name": "from the form", "modelType": "llm", "datasetId": dashboard.dataset_id,
            "config": {"baseModel": dashboard.model, "training": {"learning_rate": 5}},
        },
    ).json()  # fmt: skip
    assert refused["details"]["field"] == "config.training.learning_rate"
    assert error.text == refused["details"]["reason"]
    assert rate.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == rate, "focus moves to the field to fix"
    summary = browser.find_element(By.CSS_SELECTOR, ".error-summary")
    assert "config.training.learning_rate" in summary.text
    assert dashboard.platform.client.training.jobs.list(limit=100).pagination.total == before
    shots.take("09-create-error")

    rate.clear()
    rate.send_keys("0.001")
    browser.find_element(By.CSS_SELECTOR, "form.create button[type=submit]").click()
    wait_for("the new job's page", lambda: "/ui/jobs/job_" in browser.current_url)
    job_id = browser.current_url.rsplit("/", 1)[1]
    assert dashboard.platform.client.training.jobs.get(job_id).name == "from the form"
    dashboard.platform.client.training.jobs.stop(job_id, save_checkpoint=False)


def test_another_accounts_job_is_the_same_not_found_page_as_a_missing_job(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    shots = Screenshots(browser, tmp_path / "screenshots")
    other_key = dashboard.facade.new_key("other")
    with TensorOneClient(api_key=other_key, base_url=dashboard.facade.url, timeout=30) as other:
        data = other.datasets.create(name="theirs", format="jsonl", source="/datasets/text/train.jsonl")
        theirs = other.training.jobs.create(
            name="their-secret-job", model_type="llm", dataset_id=data.id, gpu_type="rtx4090",
            config=lora_config(dashboard.model, epochs=1),
        )  # fmt: skip
        other.training.jobs.stop(theirs.id, save_checkpoint=False)
    sign_in(browser, dashboard)
    wait_for("the list", lambda: "Jobs" in browser.find_element(By.ID, "jobs-summary").text
             or "No jobs" in browser.find_element(By.ID, "jobs-summary").text)  # fmt: skip
    assert "their-secret-job" not in browser.find_element(By.TAG_NAME, "main").text

    pages = {}
    for job_id in (theirs.id, "job_0000000000000000"):
        browser.get(f"{dashboard.facade.url}/ui/jobs/{job_id}")
        wait_for(
            "the not-found page", lambda: browser.find_elements(By.CSS_SELECTOR, "[data-testid=not-found]")
        )
        pages[job_id] = browser.find_element(By.TAG_NAME, "main").text
    assert pages[theirs.id] == pages["job_0000000000000000"]
    assert "their-secret-job" not in pages[theirs.id]
    shots.take("10-not-found")


def test_the_jobs_page_filters_sorts_and_pages_with_the_apis_own_parameters(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    client = dashboard.platform.client
    names = ["paging-a", "paging-b"]
    for name in names:
        job = client.training.jobs.create(
            name=name, model_type="llm", dataset_id=dashboard.dataset_id, gpu_type="rtx4090",
            config=lora_config(dashboard.model, epochs=1),
        )  # fmt: skip
        client.training.jobs.stop(job.id, save_checkpoint=False)
    total = client.training.jobs.list(limit=100).pagination.total
    sign_in(browser, dashboard)
    summary = lambda: browser.find_element(By.ID, "jobs-summary").text  # noqa: E731

    Select(browser.find_element(By.ID, "filter-modelType")).select_by_value("vision")
    wait_for("the vision filter", lambda: summary() == "No jobs match.")
    assert "modelType=vision" in browser.current_url
    Select(browser.find_element(By.ID, "filter-modelType")).select_by_value("llm")
    wait_for("the llm jobs", lambda: summary() == f"Jobs 1–{total} of {total}")

    Select(browser.find_element(By.ID, "filter-sort")).select_by_value("name")
    Select(browser.find_element(By.ID, "filter-order")).select_by_value("asc")
    wait_for(
        "sorted by name", lambda: "sort=name" in browser.current_url and "order=asc" in browser.current_url
    )
    shown = wait_for(
        "the sorted rows",
        lambda: [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.job-link")] or None,
    )
    assert shown == sorted(shown)

    browser.get(f"{dashboard.facade.url}/ui/jobs?modelType=llm&sort=name&order=asc&limit=1")
    wait_for("one job per page", lambda: summary() == f"Jobs 1–1 of {total}")
    first = browser.find_element(By.CSS_SELECTOR, "a.job-link").text
    click_button(browser, "Next page")
    wait_for("the second page", lambda: summary() == f"Jobs 2–2 of {total}")
    assert "offset=1" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "a.job-link").text != first
    browser.back()
    wait_for("back to the first page", lambda: summary() == f"Jobs 1–1 of {total}")

    browser.get(f"{dashboard.facade.url}/ui/jobs?sort=bogus")
    banner = wait_for("the refused parameter", lambda: visible(browser, "jobs-problem"))
    assert "sort:" in banner.text
    Screenshots(browser, tmp_path / "screenshots").take("11-jobs-bad-parameter")


def test_a_failed_job_shows_its_error_and_cause(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    broken = dashboard.platform.dataset_volume / "text" / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": "unterminated\n', encoding="utf-8")
    client = dashboard.platform.client
    dataset = client.datasets.create(name="broken", format="jsonl", source="/datasets/text/broken.jsonl")
    job = client.training.jobs.create(
        name="bad-data", model_type="llm", dataset_id=dataset.id, gpu_type="rtx4090",
        config=lora_config(dashboard.model),
    )  # fmt: skip
    sign_in(browser, dashboard)
    browser.get(f"{dashboard.facade.url}/ui/jobs/{job.id}")
    wait_for("the job to fail", lambda: status_of(browser) == "failed", timeout=180)
    failed = client.training.jobs.get(job.id)
    assert failed.error is not None
    banner = wait_for("the error", lambda: browser.find_element(By.CSS_SELECTOR, "[role=alert].error-banner"))
    assert failed.error.reason in banner.text
    assert failed.error.message.strip().splitlines()[0] in banner.text
    assert not browser.find_elements(By.XPATH, "//button[starts-with(., 'Stop')]")
    Screenshots(browser, tmp_path / "screenshots").take("12-job-failed")


def test_every_form_control_has_a_label_and_the_form_works_by_keyboard(
    dashboard: Dashboard, browser: WebDriver
) -> None:
    sign_in(browser, dashboard)
    browser.get(f"{dashboard.facade.url}/ui/new")
    wait_for("the form", lambda: browser.find_element(By.ID, "common-name"))
    unlabelled = browser.execute_script(
        """return [...document.querySelectorAll('input, select, textarea, button')]
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                           && !el.textContent.trim())
             .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    # Tab from the page's start reaches the name field through the skip link and the navigation.
    body = browser.find_element(By.TAG_NAME, "body")
    body.click()
    reached = []
    for _ in range(12):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(browser.switch_to.active_element.get_attribute("id") or "")
        if reached[-1] == "common-name":
            break
    assert reached[-1] == "common-name", reached


def test_a_yolo_job_submitted_with_the_form_shows_its_map_curve(
    dashboard: Dashboard, browser: WebDriver, tmp_path: Path
) -> None:
    from tensorone.demo.assets import write_shapes_dataset

    write_shapes_dataset(dashboard.platform.dataset_volume / "shapes", n_train=8, n_val=4)
    dataset = dashboard.platform.client.datasets.create(
        name="shapes", format="yolo", source="/datasets/shapes"
    )
    sign_in(browser, dashboard)
    browser.get(f"{dashboard.facade.url}/ui/new")
    wait_for("the form", lambda: browser.find_element(By.ID, "common-name")).send_keys("shapes-yolo")
    browser.find_element(By.ID, "model-type-vision").click()
    datasets = Select(browser.find_element(By.ID, "common-datasetId"))
    wait_for("the datasets", lambda: any(o.get_attribute("value") == dataset.id for o in datasets.options))
    datasets.select_by_value(dataset.id)
    for field, value in {
        "vision-config-architecture": "yolov8n", "vision-config-input-size-0-": "64",
        "vision-config-input-size-1-": "64", "vision-config-num-classes": "2",
        "vision-config-training-epochs": "2", "vision-config-training-batch-size": "4",
    }.items():  # fmt: skip
        browser.find_element(By.ID, field).send_keys(value)
    wait_for("the estimate", lambda: visible(browser, "estimate-total"))
    browser.find_element(By.CSS_SELECTOR, "form.create button[type=submit]").click()
    wait_for("the new job's page", lambda: "/ui/jobs/job_" in browser.current_url)
    job_id = browser.current_url.rsplit("/", 1)[1]
    job = dashboard.platform.client.training.jobs.get(job_id)
    assert job.model_type == "vision"
    assert job.config["input_size"] == [64, 64]

    chart = wait_for("the mAP chart", lambda: browser.find_elements(By.ID, "chart-map"), timeout=240)[0]
    assert int(chart.get_attribute("data-points") or 0) >= 1
    assert "mAP50" in str(chart.get_attribute("aria-label"))
    wait_for("the job to finish", lambda: status_of(browser) == "completed", timeout=240)
    Screenshots(browser, tmp_path / "screenshots").take("13-yolo-map")
