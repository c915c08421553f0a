import {
  bodyMatchesConsoleSubject,
  subjects,
  subscribeProto,
  type BadInputLog,
  type Logger,
  type NatsConnection,
  type ResizeOutcome,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { SignalingMetrics } from './metrics.js';
import type { ViewerManager } from './viewer-manager.js';

const { UiInfoResult, UiInfoOutcome } = qemu_webrtc.v1;

const OUTCOMES: Partial<Record<qemu_webrtc.v1.UiInfoOutcome, ResizeOutcome>> = {
  [UiInfoOutcome.UI_INFO_OUTCOME_APPLIED]: 'applied',
  [UiInfoOutcome.UI_INFO_OUTCOME_UNSUPPORTED]: 'unsupported',
  [UiInfoOutcome.UI_INFO_OUTCOME_IGNORED]: 'ignored',
  [UiInfoOutcome.UI_INFO_OUTCOME_FAILED]: 'failed',
};

const u32 = (v: number | null | undefined): number =>
  typeof v === 'number' && v >= 0 ? Math.min(v, 65_535) : 0;

/**
 * Input's answers to SetUIInfo hints (`UiInfoResult`), each handed to the viewer it names, when that
 * viewer still watches that console: its page says so once when the guest cannot or will not follow.
 */
export function subscribeUiInfoResults(deps: {
  nc: NatsConnection;
  viewers: ViewerManager;
  metrics: SignalingMetrics;
  logger: Logger;
  badInput: BadInputLog;
}): void {
  subscribeProto(
    deps.nc,
    subjects.uiInfoResultAll,
    UiInfoResult,
    (r, subject) => {
      const outcome = OUTCOMES[r.outcome];
      if (!bodyMatchesConsoleSubject(subject, r) || outcome === undefined) {
        deps.metrics.rejected.inc({ reason: 'bad_ui_info_result' });
        deps.badInput.warn(
          'bad_ui_info_result',
          { subject },
          'UiInfoResult does not fit its subject: dropped',
        );
        return;
      }
      const viewer = deps.viewers.get(r.viewerId);
      const key = viewer?.streamKey;
      if (!viewer || key?.vmId !== r.vmId || key.consoleId !== r.consoleId) return;
      viewer.uiInfoResult({
        outcome,
        width: u32(r.width),
        height: u32(r.height),
        consoleWidth: u32(r.consoleWidth),
        consoleHeight: u32(r.consoleHeight),
      });
    },
    {
      logger: deps.logger,
      badInput: deps.badInput,
      onBadMessage: () => deps.metrics.rejected.inc({ reason: 'bad_ui_info_result' }),
    },
  );
}
