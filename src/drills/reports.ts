/**
 * Where a drill's Markdown reports go: the report of each run it started (rendered from the run's
 * journal, as `switchyard report` renders it) and the drill's own (core/drill/report.ts). In Azure a
 * blob per report in Switchyard's state container (`drills/{plan}/reports/{id}.md`); locally a folder
 * (src/local). Writing a report again replaces it: a step that runs again renders the same text.
 */
import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions } from "../azure/budget.ts";
import { errorCodeOf, statusCodeOf } from "../azure/restErrors.ts";
import { planOfRunId } from "../core/run/model.ts";

export interface DrillReportStore {
  /** Keeps the report of `id` (a run id or a drill id) and says where it is, for people. */
  put(id: string, markdown: string): Promise<string>;
}

function blobNameOf(id: string): string {
  const plan = planOfRunId(id);
  if (!plan) throw new Error(`'${id}' is not a run or drill id`);
  return `drills/${plan}/reports/${id}.md`;
}

export class BlobDrillReportStore implements DrillReportStore {
  constructor(private readonly container: ContainerClient) {}

  async put(id: string, markdown: string): Promise<string> {
    const name = blobNameOf(id);
    const blob = this.container.getBlockBlobClient(name);
    const body = Buffer.from(markdown, "utf8");
    const upload = () => blob.upload(body, body.length, { blobHTTPHeaders: { blobContentType: "text/markdown; charset=utf-8" }, ...budgetOptions() });
    try {
      await upload();
    } catch (error) {
      if (!(statusCodeOf(error) === 404 && errorCodeOf(error) === "ContainerNotFound")) throw error;
      await this.container.createIfNotExists(budgetOptions());
      await upload();
    }
    return `blob ${this.container.containerName}/${name}`;
  }
}

/** In memory (tests). */
export class MemoryDrillReportStore implements DrillReportStore {
  readonly reports = new Map<string, string>();

  async put(id: string, markdown: string): Promise<string> {
    this.reports.set(id, markdown);
    return `memory ${blobNameOf(id)}`;
  }
}
