/**
 * Sound of the VM: its Opus track arrives in the same MediaStream as the picture and plays through
 * the <video> element, which starts muted (browsers let nothing play sound before the user
 * interacts with the page). The toolbar gets a mute button (it says how to unmute) and a volume
 * slider, shown only when the connection carries an audio track; the volume is remembered.
 */
const VOLUME_KEY = 'qemu-webrtc.volume';

export class AudioControls {
  private readonly button: HTMLButtonElement;
  private readonly volume: HTMLInputElement;
  private hasAudio = false;

  constructor(
    private readonly video: HTMLVideoElement,
    /** The toolbar element the controls go before. */
    before: Element,
    private readonly tell: (text: string) => void,
  ) {
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.id = 'audio-toggle';
    this.button.hidden = true;
    this.volume = document.createElement('input');
    this.volume.type = 'range';
    this.volume.id = 'audio-volume';
    this.volume.min = '0';
    this.volume.max = '1';
    this.volume.step = '0.05';
    this.volume.title = 'Volume';
    this.volume.setAttribute('aria-label', 'Volume');
    this.volume.hidden = true;
    const saved = Number(localStorage.getItem(VOLUME_KEY) ?? '1');
    this.volume.valueAsNumber = Number.isFinite(saved) ? Math.min(1, Math.max(0, saved)) : 1;
    before.before(this.button, this.volume);
    this.button.addEventListener('click', () => this.setMuted(!this.video.muted));
    this.volume.addEventListener('input', () => {
      this.video.volume = this.volume.valueAsNumber;
      localStorage.setItem(VOLUME_KEY, String(this.volume.valueAsNumber));
      if (this.video.muted && this.volume.valueAsNumber > 0) this.setMuted(false);
    });
    this.video.addEventListener('volumechange', () => this.render());
    this.render();
  }

  /** The connection's media stream: the controls appear when it carries sound. */
  attach(stream: MediaStream): void {
    const audio = stream.getAudioTracks().length > 0;
    if (audio && !this.hasAudio && this.video.muted) {
      this.tell('This VM has sound: click 🔇 in the toolbar to unmute (browsers start muted).');
    }
    this.hasAudio = audio;
    this.render();
  }

  private setMuted(muted: boolean): void {
    this.video.muted = muted;
    this.video.volume = this.volume.valueAsNumber;
    // Unmuting is a click: the browser now lets the element play sound.
    if (!muted) void this.video.play().catch(() => undefined);
    this.render();
  }

  private render(): void {
    this.button.hidden = !this.hasAudio;
    this.volume.hidden = !this.hasAudio;
    const muted = this.video.muted;
    this.button.textContent = muted ? '🔇 Unmute' : '🔊 Mute';
    this.button.title = muted
      ? 'Sound is off: browsers start muted until you interact with the page. Click to hear the VM.'
      : 'Sound is on. Click to mute.';
    this.button.setAttribute('aria-pressed', String(!muted));
  }
}
