#!/usr/bin/env python3
"""Generate the synthetic call corpus in ``examples/fixtures/`` (audio + ground-truth sidecars).

Every call is a scripted two-speaker conversation between a call-center *agent* and a
*customer*, synthesised with espeak-ng and laid out on the timeline by this script, so that
every word, utterance, turn, pause and overlap time is known exactly.  Usage::

    python examples/generate_fixtures.py --out examples/fixtures --n-calls 60 --seed 7
    python examples/generate_fixtures.py --out examples/fixtures --n-calls 200   # enlarge
    python examples/generate_fixtures.py --out /tmp/more --start-index 61 --n-calls 40
    python examples/generate_fixtures.py --out /tmp/long --long-call-minutes 10  # benchmarks

Call ``i`` (``call_0001`` ...) depends only on ``--seed`` and ``i``: enlarging the corpus keeps
the existing calls byte-identical, and the same seed always gives byte-identical files (given
the same espeak-ng, libsndfile/libFLAC and soxr builds; the espeak-ng version is recorded in
every sidecar under ``generator``).

How a call is made
------------------
1. *Script.*  A small grammar writes the turns of a scenario (billing, internet_outage,
   password_reset, refund, delivery, cancellation): greeting, customer introduction and
   problem statement, optional verification (account number), 0-3 troubleshooting
   exchanges, optionally a hold, resolution *or* escalation / unresolved ending, the
   customer's reaction, closing.  Names of people, organisations and places, amounts, dates
   and digit strings vary per call; ``ground_truth.entities`` lists the ones spoken.  The
   customer's mood (calm / frustrated / angry) and the agent's style (good / rushed /
   talkative / interrupting) shape both the words and the prosody.  Of the script variants
   (number of exchanges, verification, long/short closing, lean wording) the generator
   synthesises the one whose estimated length is closest to a random 20-26 s target and
   keeps the first whose real length lies in 20-60 s (calls with holds or interruptions
   run longer).
2. *Synthesis.*  Each speaker gets an espeak-ng voice and base pitch ``-p`` (eight agents
   with fixed voices; customers from a disjoint pool of ten voices).  Every word is
   synthesised on its own with its own SSML ``<prosody rate pitch range>``, in one espeak-ng
   process per speaker and call (words separated by 700 ms ``<break>``s, which espeak-ng
   renders as digital silence, and cut apart there; if the cut does not give one piece per
   word, the words are synthesised one process each).  Each word is resampled to the call's
   rate with soxr, band-limited to 300-3400 Hz (4th-order Butterworth, zero phase) for
   telephone-band calls, trimmed where its amplitude first/last reaches -40 dB re its own
   peak, and scaled so its peak is the speaker's level plus a per-word jitter.
3. *Layout.*  Words are placed on the sample grid with inter-word gaps of 30-100 ms
   (< 150 ms), phrase pauses of 300-1200 ms inside turns, inter-turn gaps of 100-600 ms
   (sometimes -50..-150 ms: a *handoff* overlap), holds of 6-12 s of silence (about one call
   in seven), planned interruptions (the interrupter starts 300-900 ms before the
   interrupted speaker stops at a word boundary; the rest of the interrupted sentence is
   dropped) and backchannels (placed inside a long utterance of the other speaker, at least
   300 ms away from the backchanneler's own speech).  Because the script places every word,
   the ground truth below is exact to the sample (times are written rounded to 0.1 ms).
4. *Mix.*  Stereo calls: channel 0 = agent, channel 1 = customer; each channel also gets
   the other speaker's track at -30..-25 dB (crosstalk bleed) and independent white noise
   at -88..-82 dBFS RMS (band-limited like the speech on telephone calls).  Mono calls
   (``i % 10 == 3``: 6 per 60) are agent + customer at -3 dB plus white noise at
   -66..-60 dBFS.  Telephone band (8 kHz, 300-3400 Hz) for most calls; wideband 16 kHz with
   no band limit when ``i % 15 == 1`` or ``i % 30 == 13`` (6 per 60, 2 of them mono).
   FLAC, 16-bit PCM, peak <= 0.9 (a call that would exceed it is scaled down and says so in
   ``mix_gain_db``; with the level plan this does not happen).  The stereo noise floor is
   lower than a real line's because FLAC spends ~7 bits per sample on white noise at
   -60 dBFS: that floor would double the corpus beyond its 25 MB budget.

Customer moods (prosody of each customer word; rate and pitch are SSML percentages, the
pitch percentage scales espeak-ng's pitch parameter, not Hz; level is the word peak)
--------------------------------------------------------------------------------------
=========== ========== ============ ================== ========= ======================
mood        rate       pitch shift  per-word pitch     range     level (peak)
=========== ========== ============ ================== ========= ======================
calm        85-95 %    -5..+5 %     +-2 sd, sd 5 %     medium    -24..-20 dBFS, sd 1 dB
frustrated  125-140 %  +18..+28 %   +-2 sd, sd 14 %    high      +5 dB, sd 1.5 dB
angry       165-180 %  +35..+50 %   +-2 sd, sd 25 %    x-high    +9 dB, sd 1.5 dB
=========== ========== ============ ================== ========= ======================

Frustrated and angry customers also leave shorter gaps and pauses, hand off with small
overlaps more often, and interrupt the agent (frustrated 0-1, angry 1-2 times per call).
Agent styles (espeak-ng speed 235 x rate, agent level -18..-15 dBFS peak): *good* (97-103 %,
polite, backchannels), *rushed* (130-140 %, short gaps and turns, frequent handoff
overlaps), *talkative* (long multi-sentence turns, high talk ratio), *interrupting*
(105-112 %, cuts the customer off 2-3 times per call).

Ground-truth definitions (``ground_truth`` in each sidecar; times in seconds from call start)
-------------------------------------------------------------------------------------------
word
    One spoken token; ``start``/``end`` are the first and last sample of its trimmed audio
    (amplitude >= -40 dB re the word's peak, measured on the final band-limited signal at the
    call's rate).  Word texts carry no punctuation; segment texts do.  Inter-word gaps
    inside an utterance are 30-100 ms; no word holds an internal silence >= 250 ms.
utterance (``utterances``; one transcript segment each)
    A maximal run of one speaker's words in which no gap between consecutive words is
    >= 250 ms.  ``start`` = its first word's start, ``end`` = its last word's end.
    ``backchannel`` is true for backchannel utterances.
backchannel (``backchannels``)
    A listener utterance shorter than 1 s ("uh-huh", "okay", "right", "mm-hm", ...) lying
    entirely inside an utterance of the other speaker.  Backchannels are not turns, do not
    start or end turns, and are never interruptions.
turn (``turns``)
    Sort the non-backchannel utterances by start time and group maximal runs of the same
    speaker: a turn runs from its first utterance's start to its last utterance's end (a
    speaker holds the floor until the other speaker's next non-backchannel utterance).
    Turns therefore alternate speakers: ``n_turns = len(turns)``,
    ``speaker_changes = n_turns - 1``.  Turns may overlap (interruptions, handoffs).
overlap (``overlaps``)
    Every non-empty intersection of an agent utterance with a customer utterance, with a
    ``kind``:

    - ``"backchannel"``: one of the two utterances is a backchannel;
    - ``"interruption"``: the later-starting utterance opens a turn, starts while the other
      speaker is inside an utterance (mid-turn), the intersection lasts >= 200 ms, and the
      starter's utterance lasts >= 1 s (the interrupted speaker stops speaking at the end of
      the overlap; generated overlaps are 300-900 ms);
    - ``"handoff"``: any other overlap (a turn that starts 50-150 ms before the previous
      turn's last word ends).
interruptions
    ``{"agent": n, "customer": n, "total": n}``: the number of ``"interruption"`` overlaps,
    by the speaker who starts the later utterance (the interrupter).
pauses
    Within-turn silences of the turn's speaker: each gap between consecutive utterances of
    one turn, minus any time the other speaker is speaking in it, kept when >= 250 ms.
    (Gaps between turns, including holds, are not pauses.)  Generated pauses are 300-1200 ms.
long_silences
    Gaps longer than 5 s in the union of all utterances of both speakers (from call start to
    call end), e.g. holds of 6-12 s.
talk_time_sec
    Per speaker, the voice-active time of the speaker's own clean track: the total duration
    of that speaker's words (word intervals never overlap for one speaker; backchannels
    included) minus the *digital silences inside the words* (``word_silence_sec``).  It
    excludes inter-word gaps, pauses and silences within words, so it is the time during
    which the speaker actually makes sound.
word_silence_sec
    Per speaker, the summed duration of the digital silences inside that speaker's words.
    espeak-ng renders stop closures and some segment junctions, more so at fast rates, as
    digital silence *inside* a word: its 16-bit output holds samples of 0 and -1 there.  A
    silence is a run of at least 20 ms (441 samples at espeak-ng's 22050 Hz) of samples with
    ``|x| <= 1`` step between the word's first and last louder sample, its ends mapped to the
    call's sample grid (resampling and filtering keep the timeline) and clipped to the
    word's span.  The rule reads the synthesiser's output, not the processed audio:
    band-limiting and resampling ring a few ms into the silence, which is not speech, and
    espeak-ng's output is either such a silence or sound well above it (thresholds of 1 to
    30 steps find nearly the same runs).  20 ms is two 10 ms analysis frames and longer than any
    pitch period, so a shorter dip is part of the sound, not a pause in it.  The silences
    last up to 100 ms (none reaches 250 ms; ``validate`` checks it); per speaker and call
    they are 0-8 % of the word time for agents and calm customers, up to 12 % for
    frustrated and 17 % for angry customers.
    The same seed gives the same audio with or without this rule: it only reads the words.
agent_talk_ratio
    ``talk_time_sec.agent / (talk_time_sec.agent + talk_time_sec.customer)``.
utterance_time_sec
    Per speaker, the summed duration of that speaker's utterances (backchannels included):
    the word spans with the inter-word gaps (< 250 ms) bridged, as a VAD with hangover sees
    it.
words_per_minute
    Per speaker, number of words / (talk_time_sec / 60): an articulation rate that excludes
    gaps, pauses and silences inside words.
n_words, holds, entities, speakers, ...
    Extras: words per speaker, the hold intervals, the named entities spoken (person, org,
    loc), each speaker's voice and prosody settings, noise floor, crosstalk and mix gain.
outcome
    Scripted: ``resolved`` (1 when the agent resolves the problem, 0 for escalated or
    unresolved endings; ``ending`` says which) and ``satisfaction`` 1-5, drawn from a model in
    which resolution, a calm mood and a good agent raise it, plus noise; the closing lines
    depend on it, so outcome correlates with content and mood but not perfectly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt

ESPEAK = "espeak-ng"
ESPEAK_SR = 22050
DEFAULT_SEED = 7
DEFAULT_OUT = Path(__file__).resolve().parent / "fixtures"

#: Gap between words (s) at or above which a new utterance starts.
UTTERANCE_GAP_SEC = 0.25
#: Minimum overlap (s) and minimum talk of the starter (s) for an interruption.
INTERRUPTION_MIN_OVERLAP_SEC = 0.2
INTERRUPTION_MIN_TALK_SEC = 1.0
#: Backchannels are shorter than this (s).
BACKCHANNEL_MAX_SEC = 1.0
#: A silence of nobody speaking longer than this (s) is a long silence.
LONG_SILENCE_SEC = 5.0
#: Word trim threshold, dB relative to the word's peak.
TRIM_DB = -40.0
#: Digital silence in espeak-ng's 16-bit output: samples with ``|x| <= SILENCE_LSB`` steps
#: (its silences hold 0 and -1); a run of at least ``WORD_SILENCE_MIN_SEC`` of them inside a
#: word is silence, not talk (see ``talk_time_sec`` in the module docstring).
SILENCE_LSB = 1
WORD_SILENCE_MIN_SEC = 0.02
#: Calls are kept within these durations (s).
MIN_CALL_SEC, MAX_CALL_SEC = 20.0, 60.0
MAX_PEAK = 0.9
#: Noise floor ranges (RMS, dB re full scale) of stereo and of mono calls, and the crosstalk
#: bleed range of stereo calls (dB re the other speaker's track).  The stereo floor is lower
#: than a real line's (-60 dBFS) only to keep the committed corpus under 25 MB: white noise at
#: -60 dBFS costs ~7 bits per sample in FLAC and would double the corpus.
NOISE_DBFS_STEREO = (-88.0, -82.0)
NOISE_DBFS_MONO = (-66.0, -60.0)
BLEED_DB = (-30.0, -25.0)
#: Each call aims at a duration drawn uniformly from this range (s).
TARGET_SEC = (20.0, 26.0)

MOODS = ("calm", "frustrated", "angry")
STYLES = ("good", "rushed", "talkative", "interrupting")
SCENARIOS = ("billing", "internet_outage", "password_reset", "refund", "delivery", "cancellation")

# --------------------------------------------------------------------------- people & voices

#: The agent pool: (agent_id, name, espeak voice, espeak base pitch -p, usual style).
AGENTS = (
    ("agent_01", "Sarah", "en-us+f3", 48, "good"),
    ("agent_02", "Michael", "en-us+m3", 45, "good"),
    ("agent_03", "Priya", "en+f3", 44, "rushed"),
    ("agent_04", "David", "en+m1", 50, "rushed"),
    ("agent_05", "Emily", "en-gb-x-rp+f3", 42, "talkative"),
    ("agent_06", "James", "en-gb-scotland+m2", 52, "talkative"),
    ("agent_07", "Olivia", "en-us+f1", 50, "interrupting"),
    ("agent_08", "Daniel", "en-029+m4", 48, "interrupting"),
)

#: Customer voices (disjoint from the agents'): (voice, gender, base pitch -p).  Chosen for a
#: steady word-level intonation (so the mood's pitch settings dominate the pitch statistics);
#: note that espeak-ng 1.51 ignores "+variant" on "en-gb", so that voice is not used.
CUSTOMER_VOICES = (
    ("en-us-nyc+m5", "m", 58), ("en+m2", "m", 60), ("en-029+m1", "m", 62),
    ("en-us+m6", "m", 58), ("en-us+m2", "m", 60), ("en-029+f5", "f", 42),
    ("en-us+f4", "f", 46), ("en+f1", "f", 46), ("en+f2", "f", 40),
    ("en-us-nyc+f4", "f", 44),
)

FIRST_NAMES = {
    "m": ("John", "Carlos", "Ahmed", "Peter", "Kevin", "Robert", "Luis", "Thomas", "Omar", "Brian"),
    "f": ("Maria", "Jennifer", "Aisha", "Linda", "Sofia", "Karen", "Mei", "Rachel", "Grace", "Helen"),
}
LAST_NAMES = ("Smith", "Garcia", "Johnson", "Khan", "Nguyen", "Brown", "Miller", "Lopez",
              "Wilson", "Anderson", "Patel", "Murphy", "Kowalski", "Okafor", "Schmidt")
CITIES = ("Chicago", "Denver", "Seattle", "Boston", "Austin", "Phoenix", "Portland", "Atlanta",
          "Toronto", "Manchester", "Dublin", "Miami", "Dallas", "Vancouver", "Edinburgh")
STREETS = ("Maple Street", "Oak Avenue", "Pine Road", "Elm Street", "Cedar Lane", "Lake Drive",
           "Hill Road", "Park Avenue", "River Street", "Church Lane")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = ("2nd", "3rd", "5th", "8th", "11th", "14th", "17th", "20th", "23rd", "28th")
PRODUCTS = ("laptop", "coffee machine", "phone case", "desk lamp", "pair of headphones",
            "blender", "winter jacket", "printer", "camera", "vacuum cleaner")
COURIERS = ("Parcel Express", "Swift Logistics", "Atlas Freight", "BlueLine Couriers")
SUPERVISORS = ("Mark Reynolds", "Angela Brooks", "Tom Fischer", "Nadia Rahman")
ORGS = {
    "billing": ("Acme Telecom", "Northwind Energy", "Contoso Mobile"),
    "internet_outage": ("Contoso Internet", "Acme Telecom", "Skyline Broadband"),
    "password_reset": ("Globex Bank", "Fabrikam Online", "Harbor Credit Union"),
    "refund": ("Zephyr Retail", "Bluebird Airlines", "Fabrikam Online"),
    "delivery": ("Zephyr Retail", "Fabrikam Online", "Orbit Home Goods"),
    "cancellation": ("Northwind Energy", "Skyline Broadband", "Contoso Mobile"),
}

#: How a token is spoken when espeak-ng would mispronounce its written form.
SPOKEN = {"mm-hm": "umhum", "uh-huh": "uh huh", "wi-fi": "wifi"}

BACKCHANNELS = {
    "agent": ("mm-hm", "okay", "right", "uh-huh", "I see", "sure"),
    "customer": ("okay", "uh-huh", "right", "yeah", "mm-hm", "sure"),
}

# --------------------------------------------------------------------------- script banks
# Slots: {agent} {cust} {cust_full} {org} {city} {city2} {amount} {amount2} {digits} {last4}
# {month} {day} {weekday} {product} {street} {street2} {courier} {sup} {years} {n} {pct}

GREETING = {
    "good": [["Thank you for calling {org}, my name is {agent}.", "How can I help you today?"],
             ["Good morning, you have reached {org}, this is {agent} speaking.",
              "How can I help?"]],
    "rushed": [["{org}, {agent} speaking, what is the problem?"],
               ["{org} support, this is {agent}, go ahead please."]],
    "talkative": [["Good morning and thank you so much for calling {org}, my name is {agent} "
                   "and I will be taking care of you today.",
                   "So please tell me, what can I do for you?"],
                  ["Hello and welcome to {org} customer care, this is {agent} speaking from our "
                   "office in {city2}, I hope you are having a lovely day.",
                   "How can I help you this morning?"]],
    "interrupting": [["Thank you for calling {org}, this is {agent}.", "How can I help?"],
                     ["{org}, you are speaking with {agent}, what can I do for you?"]],
}

CUSTOMER_INTRO = {
    "calm": ["Hi {agent}, this is {cust_full} calling from {city}.",
             "Hello, my name is {cust_full}, I live in {city}."],
    "frustrated": ["Hi, this is {cust_full} from {city}, and I really need some help.",
                   "Yes hello, my name is {cust_full}, I have a problem again."],
    "angry": ["Yes, this is {cust_full}, and I am really not happy right now!",
              "Finally, a person! My name is {cust_full} from {city}."],
}

PROBLEM = {
    "billing": ["I just got my bill for {month} and it says I owe {amount} dollars.",
                "Normally I pay around {amount2} dollars a month, so something is wrong.",
                "It looks like I was charged twice for the same service."],
    "internet_outage": ["My internet has been down since {weekday} morning.",
                        "I already restarted the router twice and the light is still blinking red.",
                        "I work from home in {city} so I really need this fixed."],
    "password_reset": ["I am locked out of my online account.",
                       "I tried to reset my password but I never got the email.",
                       "I need to pay a bill before {weekday} so I have to get in."],
    "refund": ["I returned a {product} on {month} {day} and I still have not received my refund.",
               "It was {amount} dollars and the store in {city} said it would take five days.",
               "That was almost three weeks ago now."],
    "delivery": ["I ordered a {product} two weeks ago and it still has not arrived.",
                 "The tracking page says it was delivered to {street} but I live on {street2}.",
                 "It was supposed to be a birthday present for {weekday}."],
    "cancellation": ["I would like to cancel my contract with {org}.",
                     "I am moving to {city2} next month and I found a cheaper offer there.",
                     "I have been a customer for {years} years so I hope this is easy."],
}

MOOD_ADDON = {
    "calm": ["Could you please take a look at it for me?", "I am sure it is just a small mistake."],
    "frustrated": ["This is the second time I am calling about this.",
                   "Honestly this is getting pretty annoying.",
                   "I already waited on hold for twenty minutes."],
    "angry": ["This is absolutely ridiculous!",
              "I have called three times already and nobody fixed anything!",
              "I want this sorted out right now!",
              "Your company is the worst I have ever dealt with!"],
}

VERIFY_ASK = {
    "good": ["I am sorry to hear that, {cust}.", "Can I have your account number please?"],
    "rushed": ["Account number?"],
    "talkative": ["Oh no, I am so sorry to hear that {cust}, that must be really frustrating "
                  "for you.", "Could you give me the account number please?"],
    "interrupting": ["Okay, what is your account number?"],
}
VERIFY_ANSWER = {"calm": "Sure, it is {digits}.", "frustrated": "It is {digits}.",
                 "angry": "It is {digits}, the same as the last three times!"}
VERIFY_ACK = {
    "good": "Thank you {cust}, I can see your account here.",
    "rushed": "Got it.",
    "talkative": "Perfect, thank you so much {cust}, I can see you have been with us for "
                 "{years} years, which is wonderful.",
    "interrupting": "Right, I see it.",
}

#: Troubleshooting exchanges per scenario: (agent line, customer line by mood class).
#: The customer line is [calm, upset] where upset is used for frustrated and angry moods.
TROUBLE = {
    "billing": [
        ("I can see two charges of {amount} dollars on {month} {day}.",
         ["Yes, that is exactly what I mean.", "Yes, obviously, that is what I just told you."]),
        ("It looks like the payment was processed twice by our system.",
         ["So can you reverse one of them?", "So fix it and give me my money back."]),
        ("Did you recently change your payment method or your plan?",
         ["No, I have had the same plan since I moved to {city}.",
          "No, I did not change anything at all."]),
        ("Let me check the billing history for the last three months.",
         ["Okay, thank you.", "Fine, go ahead."]),
    ],
    "internet_outage": [
        ("Can you tell me what lights you see on the modem right now?",
         ["The power light is green but the internet light is blinking red.",
          "The internet light is blinking red, like I said."]),
        ("I am running a line test on your connection from here.",
         ["Alright, no problem.", "How long is this going to take?"]),
        ("There is a reported outage in the {city} area affecting about {n} customers.",
         ["Oh I see, do you know when it will be fixed?",
          "And nobody thought to tell us about it?"]),
        ("Please unplug the modem, wait thirty seconds and plug it back in.",
         ["Okay, I did that, it is restarting now.", "I already did that twice this morning."]),
    ],
    "password_reset": [
        ("Which email address do you have on the account?",
         ["It should be {cust} at {mailhost} dot com.", "The same one as always, {cust} at {mailhost} dot com."]),
        ("I am sending a new reset link to your phone ending in {last4}.",
         ["Okay, I just got the text message.", "Fine, I got it."]),
        ("Your account was locked after five failed login attempts.",
         ["Oh, I did not know there was a limit.", "Nobody ever told me there was a limit."]),
        ("Please open the link and choose a new password with at least twelve characters.",
         ["Done, it says my password was changed.", "Okay, it says it worked this time."]),
    ],
    "refund": [
        ("I can see the return was received at our warehouse in {city2} on {month} {day}.",
         ["That sounds right.", "So where is my money?"]),
        ("The refund of {amount} dollars was issued to your card ending in {last4}.",
         ["I checked my card this morning and there was nothing yet.",
          "I checked my card this morning and there is nothing there."]),
        ("Sometimes the bank needs up to ten business days to post it.",
         ["Okay, I did not know that.", "Ten days is a very long time."]),
    ],
    "delivery": [
        ("Can you confirm the order number for me?",
         ["Yes, it is {digits2}.", "It is {digits2}, it is in the email."]),
        ("The courier {courier} shows the parcel at the depot in {city2}.",
         ["Why is it still there?", "Why is it sitting in a depot?"]),
        ("It looks like the address on the label was {street}.",
         ["Oh, that is my old address, I moved in {month}.",
          "That is my old address, I updated it in {month}!"]),
    ],
    "cancellation": [
        ("May I ask why you want to cancel the service?",
         ["It is just too expensive for what I get.", "Because the service has been terrible."]),
        ("I can offer you a discount of {pct} percent for the next six months.",
         ["That is kind, but I have made up my mind.", "I am not interested in discounts."]),
        ("Your contract ends on {month} {day}, so there is no cancellation fee.",
         ["Good, that is what I hoped.", "Good, at least something."]),
    ],
}

#: Long agent sentences (talkative filler, and what an interrupting customer cuts off).
AGENT_LONG = [
    "Usually our team in {city2} has to review the account before anything can change.",
    "I will add all of the details to the ticket so that nobody asks you again.",
    "Our policy says that the account holder has to confirm every change in writing.",
    "In most cases this is caused by the update that we rolled out on {weekday}.",
    "Let me explain how the whole process works and what is going to happen next.",
]
#: Long customer sentences (what an interrupting agent cuts off).
CUSTOMER_LONG = [
    "When I called last week they promised me it would be fixed by {weekday} at the latest.",
    "I have been a customer for {years} years and I never had a problem like this one.",
    "My neighbor on {street} had the very same problem and it took them weeks to fix.",
    "I already explained all of this to two other people before you today, twice.",
]
#: Openers of an interrupting turn (>= 6 words so the interrupter talks >= 1 s).
INTERJECTION = {
    "agent": ["Okay, okay, I understand, let me stop you there.",
              "Right, I get it, let me just check something quickly.",
              "Sorry to cut in, but I already see the problem here.",
              "Yes, yes, I know, I can see that on my screen."],
    "customer": ["No, wait, that is not what I asked you for!",
                 "Hold on, you are not listening to me at all!",
                 "Excuse me, I already tried all of that before!",
                 "No no no, I do not want another ticket number!"],
}
AFTER_INTERRUPT = {
    "agent": ["Let me check your account and we will sort it out.",
              "I will take care of it right now."],
    "customer": ["I just want this problem fixed today.",
                 "Please just tell me when it will be fixed."],
}

HOLD_ASK = {"good": "Can I put you on a short hold?",
            "rushed": "Hold on a second.",
            "talkative": "I will check this with my team lead, may I put you on a short hold?",
            "interrupting": "Hold on, I need to check."}
HOLD_OK = {"calm": "Sure, no problem.", "frustrated": "Okay, be quick.",
           "angry": "Fine, whatever."}
HOLD_BACK = {"good": "Thanks for holding, {cust}.", "rushed": "Okay, I am back.",
             "talkative": "Thank you so much for holding {cust}, I really appreciate it.",
             "interrupting": "Okay, I am back."}

RESOLVE = {
    "billing": "I have reversed the duplicate charge of {amount} dollars, you will see it on "
               "your next statement.",
    "internet_outage": "The engineers in {city} just fixed the fault, your connection should be "
                       "back within ten minutes.",
    "password_reset": "Your account is unlocked now and you can log in with the new password.",
    "refund": "I have pushed the refund of {amount} dollars through again, it will reach your "
              "card by {weekday}.",
    "delivery": "I have changed the address to {street2} and the parcel will be delivered on "
                "{weekday}.",
    "cancellation": "Your contract is cancelled as of {month} {day} and you will get a final "
                    "bill by email.",
}
ESCALATE = ["I cannot fix this from here, so I am passing it to my supervisor {sup}.",
            "I opened ticket {digits2}, our team will call you by {weekday}."]
UNRESOLVED = ["Unfortunately there is nothing more I can do for you today.",
              "I am afraid that is our policy and I cannot change it."]
CUSTOMER_REACTION = {  # by satisfaction 1..5
    1: ["This is unbelievable, I am going to cancel everything.", "That is useless, thanks for nothing."],
    2: ["So I just have to wait again? Great.", "Fine, I guess I have no choice."],
    3: ["Okay, I hope it works this time.", "Alright, let us see if that helps."],
    4: ["Okay, that sounds good, thank you.", "Great, thank you for sorting that out."],
    5: ["That is wonderful, thank you so much for your help!",
        "Perfect, you have been really helpful, thank you!"],
}
CLOSING_ASK = {"good": "Is there anything else I can help you with today?",
               "rushed": "Anything else?",
               "talkative": "Is there anything else at all that I can help you with today, "
                            "maybe about your plan?",
               "interrupting": "Anything else?"}
CUSTOMER_CLOSE = {1: "No. Goodbye.", 2: "No, that is all.", 3: "No, that is it, thanks.",
                  4: "No, that is all, thank you.", 5: "No, that is everything, have a nice day!"}
AGENT_BYE = {"good": "Thank you for calling {org}, have a great day.",
             "rushed": "Thanks for calling, bye.",
             "talkative": "Well thank you so much for calling {org} today {cust}, and have a "
                          "wonderful rest of your week.",
             "interrupting": "Thanks for calling {org}, bye."}
ANOTHER_TOPIC = ["Actually, I also have another question while I have you.",
                 "One more thing, there is another problem I wanted to ask about."]

# --------------------------------------------------------------------------- data types


@dataclass
class Speaker:
    role: str                      # "agent" | "customer"
    voice: str
    base_pitch: int                # espeak -p
    rate: tuple[float, float]      # SSML rate %, per-word uniform
    pitch_shift: float             # SSML pitch %, per call
    pitch_jitter: float            # sd of per-word pitch %
    range_: str                    # SSML prosody range
    level_db: float                # word peak level (dBFS)
    level_jitter_db: float
    word_gap: tuple[float, float]  # s
    pause: tuple[float, float]     # s, between phrases of a turn
    turn_gap: tuple[float, float]  # s, before this speaker's turns
    handoff_p: float               # probability that a turn starts as a small overlap


@dataclass
class Token:
    text: str            # written form (no surrounding punctuation)
    spoken: str          # what espeak-ng is given
    rate: int
    pitch: int
    level_db: float
    clip: np.ndarray | None = None  # final-rate, processed, unit peak
    silences: list[tuple[int, int]] = field(default_factory=list)  # in clip samples


@dataclass
class TurnPlan:
    speaker: str
    phrases: list[list[Token]]
    texts: list[str]                       # written sentence of each phrase
    interrupt: bool = False                # this turn cuts off the previous one
    hold_before: bool = False
    backchannels: list[list[Token]] = field(default_factory=list)  # listener's candidates


@dataclass
class Placed:
    speaker: str
    text: str
    start: int
    end: int
    clip: np.ndarray
    gain: float
    silences: list[tuple[int, int]] = field(default_factory=list)  # clip samples, not talk


@dataclass
class Utt:
    speaker: str
    words: list[Placed]
    text: str
    backchannel: bool = False

    @property
    def start(self) -> int:
        return self.words[0].start

    @property
    def end(self) -> int:
        return self.words[-1].end


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def _pick(rng: np.random.Generator, seq: Any) -> Any:
    return seq[int(rng.integers(len(seq)))]


def call_layout(index: int) -> dict[str, Any]:
    """Deterministic category schedule of call ``index`` (balanced over every 60 calls)."""
    combo = index % 12
    return {
        "customer_mood": MOODS[combo % 3],
        "agent_style": STYLES[(combo // 3) % 4],
        "mono": index % 10 == 3,
        "sample_rate": 16000 if index % 15 == 1 or index % 30 == 13 else 8000,
    }


def espeak_version() -> str:
    try:
        out = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"espeak-ng is required (apt-get install espeak-ng): {exc}") from None
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out.stdout)
    return m.group(1) if m else out.stdout.strip()


def _tokenize(sentence: str) -> list[str]:
    out = []
    for raw in sentence.split():
        w = raw.strip(".,!?;:\"()")
        if w:
            out.append(w)
    return out


# --------------------------------------------------------------------------- script


def _slots(rng: np.random.Generator, scenario: str, agent_name: str, cust_gender: str
           ) -> tuple[dict[str, str], dict[str, list[str]]]:
    first = _pick(rng, FIRST_NAMES[cust_gender])
    last = _pick(rng, LAST_NAMES)
    city, city2 = (str(c) for c in rng.choice(CITIES, 2, replace=False))
    street, street2 = (str(s) for s in rng.choice(STREETS, 2, replace=False))
    amount = int(rng.integers(30, 400))
    s = {
        "agent": agent_name, "cust": first, "cust_full": f"{first} {last}",
        "org": _pick(rng, ORGS[scenario]), "city": city, "city2": city2,
        "amount": str(amount), "amount2": str(max(20, amount // 2 + int(rng.integers(-10, 10)))),
        "digits": " ".join(str(d) for d in rng.integers(0, 10, 6)),
        "digits2": " ".join(str(d) for d in rng.integers(0, 10, 5)),
        "last4": " ".join(str(d) for d in rng.integers(0, 10, 4)),
        "month": _pick(rng, MONTHS), "day": _pick(rng, ORDINALS), "weekday": _pick(rng, WEEKDAYS),
        "product": _pick(rng, PRODUCTS), "street": street, "street2": street2,
        "courier": _pick(rng, COURIERS), "sup": _pick(rng, SUPERVISORS),
        "years": str(int(rng.integers(2, 15))), "n": str(int(rng.integers(2, 40)) * 50),
        "pct": str(int(rng.choice([10, 15, 20, 25]))),
        "mailhost": _pick(rng, ("gmail", "outlook", "yahoo")),
    }
    entities = {"person": [agent_name, s["cust_full"], s["sup"]], "org": [s["org"], s["courier"]],
                "loc": [city, city2, street, street2]}
    return s, entities


def _outcome(rng: np.random.Generator, scenario: str, mood: str, style: str
             ) -> tuple[int, int, str]:
    p = 0.82 - {"calm": 0.0, "frustrated": 0.12, "angry": 0.3}[mood] \
        - {"good": 0.0, "rushed": 0.2, "talkative": 0.05, "interrupting": 0.25}[style] \
        + {"password_reset": 0.1, "refund": -0.1, "cancellation": 0.05}.get(scenario, 0.0)
    resolved = int(rng.random() < min(max(p, 0.1), 0.95))
    ending = "resolved" if resolved else ("escalated" if rng.random() < 0.6 else "unresolved")
    s = 3.0 + (1.2 if resolved else -0.6) \
        + {"calm": 0.5, "frustrated": -0.2, "angry": -1.0}[mood] \
        + {"good": 0.5, "rushed": -0.5, "talkative": 0.0, "interrupting": -0.8}[style] \
        + rng.normal(0.0, 0.6)
    return resolved, int(min(5, max(1, round(s)))), ending


def _speakers(rng: np.random.Generator, mood: str, style: str, agent: tuple, cust_voice: tuple
              ) -> dict[str, Speaker]:
    _, _, a_voice, a_pitch, _ = agent
    a_rate = {"good": (97, 103), "rushed": (130, 140), "talkative": (100, 108),
              "interrupting": (105, 112)}[style]
    ag = Speaker("agent", a_voice, a_pitch, a_rate, float(rng.uniform(-3, 3)), 5.0, "medium",
                 float(rng.uniform(-18, -15)), 1.0,
                 (0.03, 0.07) if style == "rushed" else (0.035, 0.1),
                 (0.3, 0.6) if style == "rushed" else (0.35, 1.1),
                 (0.1, 0.35) if style == "rushed" else (0.15, 0.6),
                 0.3 if style == "rushed" else 0.1)
    c_voice, _, c_pitch = cust_voice
    base = float(rng.uniform(-24, -20))
    if mood == "calm":
        cu = Speaker("customer", c_voice, c_pitch, (85, 95), float(rng.uniform(-5, 5)), 5.0,
                     "medium", base, 1.0, (0.04, 0.1), (0.35, 1.2), (0.15, 0.6), 0.05)
    elif mood == "frustrated":
        cu = Speaker("customer", c_voice, c_pitch, (125, 140), float(rng.uniform(18, 28)), 14.0,
                     "high", base + 5, 1.5, (0.035, 0.08), (0.3, 0.9), (0.12, 0.5), 0.12)
    else:
        cu = Speaker("customer", c_voice, c_pitch, (165, 180), float(rng.uniform(35, 50)), 25.0,
                     "x-high", base + 9, 1.5, (0.03, 0.07), (0.3, 0.6), (0.1, 0.4), 0.25)
    return {"agent": ag, "customer": cu}


class ScriptBuilder:
    def __init__(self, rng: np.random.Generator, spk: dict[str, Speaker], slots: dict[str, str]):
        self.rng, self.spk, self.slots = rng, spk, slots
        self.turns: list[TurnPlan] = []

    def token(self, speaker: str, word: str) -> Token:
        sp = self.spk[speaker]
        r = self.rng
        rate = round(r.uniform(*sp.rate))
        pitch = round(sp.pitch_shift + np.clip(r.normal(0.0, 1.0), -2.0, 2.0) * sp.pitch_jitter)
        lvl = float(sp.level_db + np.clip(r.normal(0.0, 1.0), -2.0, 2.0) * sp.level_jitter_db)
        return Token(word, SPOKEN.get(word.lower(), word), rate, max(-40, min(pitch, 100)), lvl)

    def say(self, speaker: str, sentences: list[str], *, interrupt: bool = False,
            hold_before: bool = False, n_backchannels: int = 0) -> TurnPlan:
        texts = [s.format(**self.slots) for s in sentences]
        phrases = [[self.token(speaker, w) for w in _tokenize(t)] for t in texts]
        listener = "customer" if speaker == "agent" else "agent"
        bcs = []
        for _ in range(n_backchannels):
            word = _pick(self.rng, BACKCHANNELS[listener])
            bcs.append([self.token(listener, w) for w in word.split()])
        if self.turns and self.turns[-1].speaker == speaker and not hold_before:
            # same speaker again: extend the previous turn instead (turns alternate)
            prev = self.turns[-1]
            prev.phrases += phrases
            prev.texts += texts
            prev.backchannels += bcs
            return prev
        t = TurnPlan(speaker, phrases, texts, interrupt, hold_before, bcs)
        self.turns.append(t)
        return t


def build_script(rng: np.random.Generator, *, scenario: str, mood: str, style: str,
                 spk: dict[str, Speaker], slots: dict[str, str], satisfaction: int,
                 ending: str, n_trouble: int, hold: bool, verify: bool = True,
                 full_close: bool = True, lean: bool = False, n_topics: int = 1,
                 scenario_cycle: list[str] | None = None) -> list[TurnPlan]:
    b = ScriptBuilder(rng, spk, slots)
    upset = mood != "calm"
    bc_agent = {"good": 1, "rushed": 0, "talkative": 1, "interrupting": 0}[style]
    bc_cust = {"calm": 1, "frustrated": 1, "angry": 0}[mood]
    if style == "talkative":
        bc_cust += 1
    talkative = style == "talkative" and not (lean and hold)  # monologues unless pressed
    # a talkative agent in a lean script with a hold uses the short lines of a good agent
    short = "good" if style == "talkative" and not talkative else style
    greeting = _pick(rng, GREETING[short])
    b.say("agent", greeting[:1] if lean else greeting)
    b.say("customer", [_pick(rng, CUSTOMER_INTRO[mood])])

    topics = scenario_cycle or [scenario]
    for ti in range(n_topics):
        scen = topics[ti % len(topics)]
        n_agent_interrupts = ((2 if lean else int(rng.integers(2, 4)))
                              if style == "interrupting" else 0)
        n_cust_interrupts = {"calm": 0, "frustrated": int(rng.integers(0, 2)),
                             "angry": int(rng.integers(1, 3))}[mood]
        if ti > 0:
            b.say("customer", [_pick(rng, ANOTHER_TOPIC)])
            b.say("agent", ["Of course, go ahead."] if style != "rushed" else ["Go ahead."])
        problem = [PROBLEM[scen][0]]
        if mood != "calm":
            problem.append(_pick(rng, MOOD_ADDON[mood]))
        elif style != "talkative" and rng.random() < 0.5:
            problem.append(PROBLEM[scen][int(rng.integers(1, len(PROBLEM[scen])))])
        elif style != "talkative" and rng.random() < 0.5:
            problem.append(_pick(rng, MOOD_ADDON["calm"]))
        if n_agent_interrupts > 0:
            # the agent cuts the customer off in the middle of a long explanation
            problem = [*problem[:1], _pick(rng, CUSTOMER_LONG)]
            b.say("customer", problem, n_backchannels=bc_agent + 1)
            inter = [_pick(rng, INTERJECTION["agent"]), _pick(rng, AFTER_INTERRUPT["agent"])]
            b.say("agent", inter[:1] if lean else inter, interrupt=True)
            n_agent_interrupts -= 1
        else:
            b.say("customer", problem, n_backchannels=bc_agent + 1)
        if ti == 0 and verify:
            b.say("agent", VERIFY_ASK[style])
            b.say("customer", [VERIFY_ANSWER[mood]])
            if style in ("good", "talkative"):
                b.say("agent", [VERIFY_ACK[style]])
        exchanges = list(TROUBLE[scen])
        order = rng.permutation(len(exchanges))[:n_trouble]
        hold_at = int(rng.integers(0, len(order))) if hold and ti == 0 and len(order) else -1
        if hold and ti == 0 and not len(order):
            b.say("agent", [HOLD_ASK[short]])
            b.say("customer", [HOLD_OK[mood]])
            b.say("agent", [HOLD_BACK[short]], hold_before=True)
        cust_int_k = len(order) - 1 if hold_at != len(order) - 1 else -1
        for k, ei in enumerate(order):
            a_line, c_lines = exchanges[int(ei)]
            a_sents = [a_line]
            if talkative:
                a_sents.append(_pick(rng, AGENT_LONG))
            if n_cust_interrupts > 0 and k == cust_int_k:
                # the customer cuts the agent off in the middle of a long explanation
                b.say("agent", [a_line, _pick(rng, AGENT_LONG)], n_backchannels=bc_cust)
                inter = [_pick(rng, INTERJECTION["customer"]),
                         _pick(rng, AFTER_INTERRUPT["customer"])]
                b.say("customer", inter[:1] if lean else inter, interrupt=True)
                n_cust_interrupts -= 1
                b.say("agent", ["I understand, I am sorry about that."] if style != "rushed"
                      else ["Okay."])
                continue
            b.say("agent", a_sents, n_backchannels=bc_cust)
            c_line = c_lines[1 if upset else 0]
            if n_agent_interrupts > 0 and k == 0:
                b.say("customer", [c_line, _pick(rng, CUSTOMER_LONG)], n_backchannels=bc_agent)
                b.say("agent", [_pick(rng, INTERJECTION["agent"])], interrupt=True)
                n_agent_interrupts -= 1
            else:
                b.say("customer", [c_line])
            if k == hold_at:
                b.say("agent", [HOLD_ASK[short]])
                b.say("customer", [HOLD_OK[mood]])
                b.say("agent", [HOLD_BACK[short]], hold_before=True)
        # resolution or escalation / unresolved
        last = ti == n_topics - 1
        if ending == "resolved" or not last:
            res = [RESOLVE[scen]]
        elif ending == "escalated":
            res = [_pick(rng, ESCALATE)]
        else:
            res = [_pick(rng, UNRESOLVED)]
        if talkative:
            res.append(_pick(rng, AGENT_LONG))
        if n_agent_interrupts > 0:
            b.say("customer", [_pick(rng, CUSTOMER_LONG)], n_backchannels=bc_agent)
            b.say("agent", [_pick(rng, INTERJECTION["agent"]), *res], interrupt=True)
            n_agent_interrupts -= 1
        elif n_cust_interrupts > 0 and last and ending != "resolved":
            b.say("agent", [res[0], _pick(rng, AGENT_LONG)], n_backchannels=bc_cust)
            b.say("customer", [_pick(rng, INTERJECTION["customer"])], interrupt=True)
            n_cust_interrupts -= 1
        else:
            b.say("agent", res, n_backchannels=bc_cust)
        sat = satisfaction if ti == n_topics - 1 else max(3, satisfaction)
        b.say("customer", [_pick(rng, CUSTOMER_REACTION[sat])])

    if full_close:
        b.say("agent", [CLOSING_ASK[style]])
        b.say("customer", [CUSTOMER_CLOSE[satisfaction]])
    b.say("agent", [AGENT_BYE[style if talkative or not lean else "rushed"]])
    if not full_close and not lean:
        b.say("customer", ["Bye." if satisfaction <= 2 else "Thanks, bye."])
    return b.turns


def estimate_duration(turns: list[TurnPlan], spk: dict[str, Speaker]) -> float:
    """Rough duration (s) of a script before synthesis (used to pick the script options)."""
    d = 0.0
    for j, t in enumerate(turns):
        sp = spk[t.speaker]
        rate = sum(sp.rate) / 200.0
        cut = j + 1 < len(turns) and turns[j + 1].interrupt
        for pi, p in enumerate(t.phrases):
            w = 0.55 if cut and pi == len(t.phrases) - 1 else 1.0  # interrupted: cut short
            d += w * sum(0.06 + 0.045 * len(x.spoken) for x in p) / rate
            d += w * len(p) * sum(sp.word_gap) / 2
        d += (len(t.phrases) - 1) * sum(sp.pause) / 2 + sum(sp.turn_gap) / 2
        if t.hold_before:
            d += 9.0
    return 1.15 * d + 1.5


# --------------------------------------------------------------------------- synthesis


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run_espeak(voice: str, base_pitch: int, ssml: str) -> np.ndarray:
    proc = subprocess.run([ESPEAK, "-m", "-v", voice, "-p", str(base_pitch), "-s", "235",
                           "--stdin", "--stdout"], input=ssml.encode("utf-8"),
                          capture_output=True, check=True)
    raw = proc.stdout
    i = raw.find(b"data")
    if raw[:4] != b"RIFF" or i < 0:
        raise RuntimeError(f"espeak-ng gave no WAV output: {proc.stderr.decode(errors='replace')}")
    data = raw[i + 8:]
    return np.frombuffer(data[:len(data) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0


def _ssml_word(tok: Token, range_: str) -> str:
    return (f'<prosody rate="{tok.rate}%" pitch="{tok.pitch:+d}%" range="{range_}">'
            f"{_xml(tok.spoken)}</prosody>")


def _split_words(y: np.ndarray, n: int) -> list[np.ndarray] | None:
    """Cut espeak output of ``n`` words separated by long breaks into ``n`` raw clips."""
    hop = int(0.005 * ESPEAK_SR)
    m = len(y) // hop
    if m == 0:
        return None
    env = np.sqrt((y[:m * hop].reshape(m, hop) ** 2).mean(axis=1))
    act = env > env.max() * 10 ** (-50 / 20)
    edges = np.flatnonzero(np.diff(np.r_[0, act.astype(np.int8), 0]))
    runs = list(zip(edges[::2], edges[1::2], strict=True))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (a - merged[-1][1]) * hop < 0.2 * ESPEAK_SR:
            merged[-1][1] = b
        else:
            merged.append([int(a), int(b)])
    if len(merged) != n:
        return None
    # cut in the middle of each break (espeak's breaks are digital silence)
    cuts = [0] + [(merged[i][1] + merged[i + 1][0]) * hop // 2 for i in range(n - 1)] + [len(y)]
    return [y[cuts[i]:cuts[i + 1]] for i in range(n)]


def synthesize(tokens: list[Token], sp: Speaker, sr: int, telephone: bool) -> None:
    """Fill ``tok.clip`` (processed at ``sr``, trimmed, unit peak) and ``tok.silences`` (its
    internal digital silences, :func:`_word_silences`) for every token."""
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=sr, output="sos") if telephone else None
    brk = '<break time="700ms"/>'
    chunk = 40
    for c0 in range(0, len(tokens), chunk):
        part = tokens[c0:c0 + chunk]
        y = _run_espeak(sp.voice, sp.base_pitch,
                        "<speak>" + brk.join(_ssml_word(t, sp.range_) for t in part) + brk
                        + "</speak>")
        clips = _split_words(y, len(part))
        if clips is None:  # rare: a word with an internal long silence; one process per word
            clips = []
            for t in part:
                yy = _run_espeak(sp.voice, sp.base_pitch,
                                 "<speak>" + _ssml_word(t, sp.range_) + "</speak>")
                nz = np.flatnonzero(np.abs(yy) > 1e-4)
                clips.append(yy[nz[0]:nz[-1] + 1] if len(nz) else yy)
        for t, raw in zip(part, clips, strict=True):
            t.clip, t.silences = _process_clip(raw, sr, sos)


def _process_clip(raw: np.ndarray, sr: int,
                  sos: np.ndarray | None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Resample, band-limit, trim and normalise one word; also its internal silences."""
    pad = np.zeros(int(0.05 * ESPEAK_SR))
    x = soxr.resample(np.concatenate([pad, raw, pad]), ESPEAK_SR, sr, quality="HQ")
    if sos is not None:
        x = sosfiltfilt(sos, x)
    a = np.abs(x)
    peak = a.max()
    if peak <= 0:
        return np.zeros(1), []
    idx = np.flatnonzero(a >= peak * 10 ** (TRIM_DB / 20))
    clip = x[idx[0]: idx[-1] + 1] / peak
    return clip, _word_silences(raw, len(pad), sr, int(idx[0]), len(clip))


def _word_silences(raw: np.ndarray, offset: int, sr: int, start: int,
                   n: int) -> list[tuple[int, int]]:
    """The digital silences inside one word, as ``[(s, e), ...]`` samples of its clip.

    ``raw`` is espeak-ng's output for the word (22050 Hz, full scale 1.0, 16-bit steps),
    ``offset`` the padding put before it, ``start`` the first kept sample and ``n`` the length
    of the processed clip at ``sr``.  A silence is a run of >= ``WORD_SILENCE_MIN_SEC`` of
    samples with ``|x| <= SILENCE_LSB`` between the word's first and last louder sample; its
    ends are mapped to the clip's grid and clipped to the clip.
    """
    quiet = np.abs(raw) * 32768.0 <= SILENCE_LSB + 0.5
    loud = np.flatnonzero(~quiet)
    if loud.size < 2:
        return []
    first, last = int(loud[0]), int(loud[-1])
    edges = np.flatnonzero(np.diff(np.r_[0, quiet[first:last + 1].astype(np.int8), 0]))
    out = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if b - a < WORD_SILENCE_MIN_SEC * ESPEAK_SR:
            continue
        s = round((first + a + offset) * sr / ESPEAK_SR) - start
        e = round((first + b + offset) * sr / ESPEAK_SR) - start
        s, e = max(s, 0), min(e, n)
        if e > s:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------- layout


def layout(turns: list[TurnPlan], spk: dict[str, Speaker], sr: int,
           rng: np.random.Generator) -> tuple[list[Utt], list[dict[str, Any]]]:
    """Place words on the sample grid; returns utterances (incl. backchannels) and holds."""
    def sec(x: float) -> int:
        return round(x * sr)

    placed: list[list[Utt]] = []  # per turn
    holds: list[dict[str, Any]] = []
    t0 = sec(rng.uniform(0.2, 0.6))
    for j, turn in enumerate(turns):
        sp = spk[turn.speaker]
        if j == 0:
            start = t0
        else:
            prev = placed[-1]
            prev_end = prev[-1].end
            if turn.interrupt:
                victim = prev[-1]
                ws = victim.words
                ov = sec(rng.uniform(0.3, 0.9))
                cands = [k for k in range(1, len(ws) - 2)
                         if ws[k].end - ws[0].start >= ov + sec(0.5)]
                if not cands:
                    raise RuntimeError("interruption victim phrase too short")
                k = int(_pick(rng, cands))
                victim.words = ws[:k + 1]
                victim.text = " ".join(w.text for w in victim.words)
                start = victim.words[-1].end - ov
            elif turn.hold_before:
                hold = sec(rng.uniform(6.0, 12.0))
                start = prev_end + hold
                holds.append({"start": prev_end, "end": start})
            elif rng.random() < max(sp.handoff_p, spk[prev[-1].speaker].handoff_p * 0.5):
                start = max(prev_end - sec(rng.uniform(0.05, 0.15)),
                            prev[-1].words[-1].start + sec(0.05))
            else:
                start = prev_end + sec(rng.uniform(*sp.turn_gap))
        utts: list[Utt] = []
        cur = start
        for pi, (phrase, text) in enumerate(zip(turn.phrases, turn.texts, strict=True)):
            if pi > 0:
                cur += sec(rng.uniform(*sp.pause))
            words = []
            for wi, tok in enumerate(phrase):
                if wi > 0:
                    cur += sec(rng.uniform(*sp.word_gap))
                assert tok.clip is not None
                n = len(tok.clip)
                words.append(Placed(turn.speaker, tok.text, cur, cur + n, tok.clip,
                                    10 ** (tok.level_db / 20), tok.silences))
                cur += n
            utts.append(Utt(turn.speaker, words, text))
        placed.append(utts)

    # backchannels: entirely inside a long utterance of the turn's speaker, away from the
    # listener's own speech
    out: list[Utt] = [u for us in placed for u in us]
    bcs: list[Utt] = []
    for j, turn in enumerate(turns):
        if not turn.backchannels:
            continue
        listener = "customer" if turn.speaker == "agent" else "agent"
        busy = [(u.start - sec(0.3), u.end + sec(0.3)) for u in out + bcs
                if u.speaker == listener]
        for bc_tokens in turn.backchannels:
            clips = [t.clip for t in bc_tokens]
            gaps = [sec(rng.uniform(0.04, 0.08)) for _ in clips[1:]]
            length = sum(len(c) for c in clips) + sum(gaps)  # type: ignore[arg-type]
            if length >= sec(BACKCHANNEL_MAX_SEC) - 1:
                continue
            slots = []
            for u in placed[j]:
                lo, hi = u.start + sec(0.4), u.end - sec(0.15) - length
                if hi <= lo:
                    continue
                # free sub-ranges of [lo, hi] for the backchannel start
                for s in range(lo, hi, max(1, sec(0.05))):
                    if all(s + length <= b0 or s >= b1 for b0, b1 in busy):
                        slots.append(s)
            if not slots:
                continue
            s = int(_pick(rng, slots))
            words, cur = [], s
            for i, tok in enumerate(bc_tokens):
                if i > 0:
                    cur += gaps[i - 1]
                assert tok.clip is not None
                words.append(Placed(listener, tok.text, cur, cur + len(tok.clip), tok.clip,
                                    10 ** (tok.level_db / 20), tok.silences))
                cur += len(tok.clip)
            u = Utt(listener, words, " ".join(t.text for t in bc_tokens), backchannel=True)
            bcs.append(u)
            busy.append((u.start - sec(0.3), u.end + sec(0.3)))
    out += bcs
    out.sort(key=lambda u: (u.start, u.end))
    return out, holds


# --------------------------------------------------------------------------- ground truth


def _r(x: float) -> float:
    return round(float(x), 4)


def ground_truth(utts: list[Utt], sr: int, n_samples: int) -> dict[str, Any]:
    """Derive every ground-truth quantity from the placed words (see the module docstring)."""
    def s(x: int) -> float:
        return _r(x / sr)

    gap = round(UTTERANCE_GAP_SEC * sr)
    # 1. utterances: split each placed phrase wherever a word gap >= 250 ms (never happens by
    #    construction, but the definition is applied, not assumed) and merge phrases closer
    #    than 250 ms.
    by_spk: dict[str, list[Utt]] = {"agent": [], "customer": []}
    for u in sorted(utts, key=lambda u: u.start):
        lst = by_spk[u.speaker]
        if lst and not u.backchannel and not lst[-1].backchannel and u.start - lst[-1].end < gap:
            lst[-1] = Utt(u.speaker, lst[-1].words + u.words, f"{lst[-1].text} {u.text}")
        else:
            lst.append(u)
    final: list[Utt] = []
    for lst in by_spk.values():
        for u in lst:
            cur = [u.words[0]]
            for w in u.words[1:]:
                if w.start - cur[-1].end >= gap:
                    final.append(Utt(u.speaker, cur, " ".join(x.text for x in cur), u.backchannel))
                    cur = []
                cur.append(w)
            final.append(Utt(u.speaker, cur, u.text if len(cur) == len(u.words) else
                             " ".join(x.text for x in cur), u.backchannel))
    final.sort(key=lambda u: (u.start, u.end))

    # 2. turns
    turns: list[dict[str, Any]] = []
    turn_utts: list[list[Utt]] = []
    for u in final:
        if u.backchannel:
            continue
        if turns and turns[-1]["speaker"] == u.speaker:
            turns[-1]["end"] = max(turns[-1]["end"], u.end)
            turn_utts[-1].append(u)
        else:
            turns.append({"speaker": u.speaker, "start": u.start, "end": u.end})
            turn_utts.append([u])
    first_of_turn = {id(us[0]) for us in turn_utts}

    # 3. overlaps
    overlaps: list[dict[str, Any]] = []
    inter = {"agent": 0, "customer": 0}
    ag = [u for u in final if u.speaker == "agent"]
    cu = [u for u in final if u.speaker == "customer"]
    for a in ag:
        for c in cu:
            lo, hi = max(a.start, c.start), min(a.end, c.end)
            if hi <= lo:
                continue
            later, earlier = (a, c) if (a.start, a.end) > (c.start, c.end) else (c, a)
            if a.backchannel or c.backchannel:
                kind = "backchannel"
            elif (id(later) in first_of_turn and earlier.start < later.start < earlier.end
                  and hi - lo >= INTERRUPTION_MIN_OVERLAP_SEC * sr
                  and later.end - later.start >= INTERRUPTION_MIN_TALK_SEC * sr):
                kind = "interruption"
                inter[later.speaker] += 1
            else:
                kind = "handoff"
            overlaps.append({"start": lo, "end": hi, "kind": kind, "by": later.speaker})
    overlaps.sort(key=lambda o: o["start"])

    # 4. pauses within turns (minus the other speaker's speech)
    pauses = []
    for tu in turn_utts:
        for u1, u2 in itertools.pairwise(tu):
            segs = [(u1.end, u2.start)]
            for o in final:
                if o.speaker == u1.speaker:
                    continue
                nxt = []
                for a, b in segs:
                    if o.end <= a or o.start >= b:
                        nxt.append((a, b))
                    else:
                        if o.start > a:
                            nxt.append((a, o.start))
                        if o.end < b:
                            nxt.append((o.end, b))
                segs = nxt
            pauses += [{"speaker": u1.speaker, "start": a, "end": b} for a, b in segs
                       if b - a >= gap]

    # 5. long silences
    iv = sorted((u.start, u.end) for u in final)
    merged: list[list[int]] = []
    for a, b in iv:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    long_sil = []
    prev = 0
    for a, b in [*merged, [n_samples, n_samples]]:
        if a - prev > LONG_SILENCE_SEC * sr:
            long_sil.append({"start": s(prev), "end": s(a)})
        prev = max(prev, b)

    # 6. talk time: word spans minus the digital silences inside the words
    silent = {k: sum(e - b for u in final if u.speaker == k for w in u.words
                     for b, e in w.silences) / sr for k in ("agent", "customer")}
    talk = {k: sum(w.end - w.start for u in final if u.speaker == k for w in u.words) / sr
            - silent[k] for k in silent}
    nwords = {k: sum(len(u.words) for u in final if u.speaker == k) for k in talk}
    return {
        "utterances_obj": final,
        "turns": [{"speaker": t["speaker"], "start": s(t["start"]), "end": s(t["end"])}
                  for t in turns],
        "utterances": [{"speaker": u.speaker, "start": s(u.start), "end": s(u.end),
                        "text": u.text, "backchannel": u.backchannel} for u in final],
        "backchannels": [{"speaker": u.speaker, "start": s(u.start), "end": s(u.end),
                          "text": u.text} for u in final if u.backchannel],
        "overlaps": [{"start": s(o["start"]), "end": s(o["end"]), "kind": o["kind"],
                      "by": o["by"]} for o in overlaps],
        "interruptions": {**inter, "total": inter["agent"] + inter["customer"]},
        "pauses": [{"speaker": p["speaker"], "start": s(p["start"]), "end": s(p["end"])}
                   for p in pauses],
        "long_silences": long_sil,
        "talk_time_sec": {k: _r(v) for k, v in talk.items()},
        "word_silence_sec": {k: _r(v) for k, v in silent.items()},
        "agent_talk_ratio": _r(talk["agent"] / max(talk["agent"] + talk["customer"], 1e-9)),
        "utterance_time_sec": {k: _r(sum(u.end - u.start for u in final if u.speaker == k) / sr)
                               for k in talk},
        "n_turns": len(turns),
        "speaker_changes": max(len(turns) - 1, 0),
        "n_words": nwords,
        "words_per_minute": {k: round(nwords[k] / (talk[k] / 60.0), 2) if talk[k] > 0 else 0.0
                             for k in talk},
    }


def validate(gt: dict[str, Any], utts: list[Utt], turns: list[TurnPlan], sr: int, n: int,
             *, check_duration: bool = True) -> None:
    """Check the generated call against the definitions; raises ``AssertionError``."""
    def fail(msg: str) -> None:
        raise AssertionError(msg)

    if check_duration and not MIN_CALL_SEC <= n / sr <= MAX_CALL_SEC:
        fail(f"duration {n / sr:.2f} s")
    planned = sum(t.interrupt for t in turns)
    if gt["interruptions"]["total"] != planned:
        fail(f"{gt['interruptions']['total']} interruptions, planned {planned}")
    for o in gt["overlaps"]:
        if o["kind"] == "handoff" and o["end"] - o["start"] >= INTERRUPTION_MIN_OVERLAP_SEC:
            fail(f"handoff overlap of {o['end'] - o['start']:.3f} s")
    for spk in ("agent", "customer"):
        ws = sorted((w for u in utts if u.speaker == spk for w in u.words), key=lambda w: w.start)
        if any(b.start < a.end for a, b in itertools.pairwise(ws)):
            fail(f"{spk} words overlap")
    for u in utts:
        for w in u.words:
            if any(e - b >= UTTERANCE_GAP_SEC * sr for b, e in w.silences):
                fail(f"word {w.text!r} holds a silence >= {UTTERANCE_GAP_SEC} s")
        gaps = [(b.start - a.end) / sr for a, b in zip(u.words, u.words[1:], strict=False)]
        if gaps and max(gaps) >= 0.15:
            fail(f"inter-word gap {max(gaps):.3f} s in {u.text!r}")
        if u.backchannel:
            if (u.end - u.start) / sr >= BACKCHANNEL_MAX_SEC:
                fail(f"backchannel {u.text!r} lasts {(u.end - u.start) / sr:.2f} s")
            if not any(o.speaker != u.speaker and not o.backchannel and o.start <= u.start
                       and u.end <= o.end for o in utts):
                fail(f"backchannel {u.text!r} is not inside the other speaker's utterance")
    if any(p["end"] - p["start"] < UTTERANCE_GAP_SEC for p in gt["pauses"]):
        fail("short pause")
    if n > 0 and max(u.end for u in utts) > n:
        fail("speech beyond the end")


# --------------------------------------------------------------------------- mixing


def render(utts: list[Utt], sr: int, n: int) -> dict[str, np.ndarray]:
    tracks = {"agent": np.zeros(n), "customer": np.zeros(n)}
    for u in utts:
        for w in u.words:
            tracks[u.speaker][w.start:w.end] += w.clip * w.gain
    return tracks


def mix(tracks: dict[str, np.ndarray], sr: int, *, mono: bool, telephone: bool,
        rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    n = len(tracks["agent"])
    noise_db = float(rng.uniform(*(NOISE_DBFS_MONO if mono else NOISE_DBFS_STEREO)))
    bleed_db = float(rng.uniform(*BLEED_DB))
    n_ch = 1 if mono else 2
    noise = rng.standard_normal((n_ch, n))
    if telephone:
        sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=sr, output="sos")
        noise = sosfiltfilt(sos, noise, axis=-1)
    noise *= 10 ** (noise_db / 20) / np.sqrt((noise ** 2).mean(axis=-1, keepdims=True))
    if mono:
        y = (tracks["agent"] + tracks["customer"]) * 10 ** (-3 / 20)
        y = y[None, :] + noise
    else:
        g = 10 ** (bleed_db / 20)
        y = np.stack([tracks["agent"] + g * tracks["customer"],
                      tracks["customer"] + g * tracks["agent"]]) + noise
    peak = float(np.abs(y).max())
    gain_db = 0.0
    if peak > MAX_PEAK:  # never expected with the level plan; keeps the no-clipping promise
        gain_db = 20 * math.log10(MAX_PEAK / peak)
        y *= MAX_PEAK / peak
    return y, {"noise_floor_dbfs": round(noise_db, 2),
               "crosstalk_db": None if mono else round(bleed_db, 2),
               "mix_gain_db": round(gain_db, 2)}


def write_flac(path: Path, y: np.ndarray, sr: int) -> None:
    q = np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, q.T, sr, format="FLAC", subtype="PCM_16", compression_level=1.0)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- one call


#: Script options: (n_topics, n_trouble, verify, full_close, lean, hold).
Opt = tuple[int, int, bool, bool, bool, bool]


def _opt_id(opt: Opt) -> int:
    return opt[1] * 16 + 8 * int(opt[2]) + 4 * int(opt[3]) + 2 * int(opt[4]) + int(opt[5])


def make_call(index: int, seed: int, out: Path, *, long_minutes: float | None = None,
              version: str = "") -> dict[str, Any]:
    cat = call_layout(index)
    mood, style, mono, sr = cat["customer_mood"], cat["agent_style"], cat["mono"], cat["sample_rate"]
    if long_minutes:
        mono, sr = False, 8000
    telephone = sr == 8000
    rng = _rng(seed, index, 0)
    scenario = SCENARIOS[(index + index // 12) % len(SCENARIOS)]
    pool = [a for a in AGENTS if a[4] == style]
    agent = pool[int(rng.integers(len(pool)))] if rng.random() < 0.85 else _pick(rng, AGENTS)
    cust_voice = _pick(rng, CUSTOMER_VOICES)
    resolved, satisfaction, ending = _outcome(rng, scenario, mood, style)
    hold = bool(rng.random() < 0.14)
    spk = _speakers(rng, mood, style, agent, cust_voice)
    slots, entities = _slots(rng, scenario, agent[1], cust_voice[1])
    script_seed = int(rng.integers(2**31))
    cycle = [scenario] + [s for s in SCENARIOS if s != scenario]

    def script(o: Opt) -> list[TurnPlan]:
        return build_script(_rng(script_seed, _opt_id(o), 1), scenario=scenario, mood=mood,
                            style=style, spk=spk, slots=slots, satisfaction=satisfaction,
                            ending=ending, n_trouble=o[1], verify=o[2], full_close=o[3],
                            lean=o[4], hold=o[5], n_topics=o[0], scenario_cycle=cycle)

    if long_minutes:
        o = (1, 3, True, True, False, hold)
        while estimate_duration(script(o), spk) < long_minutes * 60 and o[0] < 2000:
            o = (o[0] + 1, *o[1:])
        candidates = [o]
        est, target = {o: estimate_duration(script(o), spk)}, long_minutes * 60
    else:
        # choose the script options whose estimated duration is closest to a random target;
        # a hold is dropped only when no script with it fits in 20-60 s
        target = float(rng.uniform(TARGET_SEC[0], TARGET_SEC[1]))
        candidates = [(1, k, v, c, lean, h) for k in range(4) for v in (True, False)
                      for c in (True, False) for lean in (False, True)
                      for h in ((True, False) if hold else (False,))]
        est = {o: estimate_duration(script(o), spk) for o in candidates}
    lo_ok, hi_ok = MIN_CALL_SEC + 0.1, MAX_CALL_SEC - 0.1
    tried: set[Opt] = set()
    ratio = 0.92  # actual / estimated duration, learnt from the attempts
    n = 0
    while True:
        left = [o for o in candidates if o not in tried]
        if not left:
            break
        opt = min(left,
                  key=lambda o: (o[5] != hold or not lo_ok + 1 <= est[o] * ratio <= hi_ok - 1.5,
                                 abs(est[o] * ratio - target), _opt_id(o)))
        tried.add(opt)
        turns = script(opt)
        for role in ("agent", "customer"):
            toks = [t for turn in turns if turn.speaker == role for p in turn.phrases for t in p]
            toks += [t for turn in turns if turn.speaker != role for bc in turn.backchannels
                     for t in bc]
            synthesize(toks, spk[role], sr, telephone)
        utts, holds = layout(turns, spk, sr, _rng(seed, index, 2))
        end = max(u.end for u in utts)
        n = end + round(float(_rng(seed, index, 3).uniform(0.3, 0.8)) * sr)
        if long_minutes and n / sr < target and len(candidates) < 4:
            # too short: add topics in proportion and try again
            o = (max(opt[0] + 1, math.ceil(opt[0] * target / (n / sr))), *opt[1:])
            candidates.append(o)
            est[o] = estimate_duration(script(o), spk)
            continue
        if long_minutes or lo_ok <= n / sr <= hi_ok:
            break
        ratio = (n / sr) / est[opt]
    if not (long_minutes or lo_ok <= n / sr <= hi_ok):
        raise RuntimeError(f"call {index}: could not fit {MIN_CALL_SEC}-{MAX_CALL_SEC} s "
                           f"(got {n / sr:.1f} s)")

    gt = ground_truth(utts, sr, n)
    final_utts: list[Utt] = gt.pop("utterances_obj")
    validate(gt, final_utts, turns, sr, n, check_duration=not long_minutes)
    said = " ".join(u.text for u in final_utts)
    entities = {k: [e for e in v if e in said] for k, v in entities.items()}
    tracks = render(final_utts, sr, n)
    y, mixinfo = mix(tracks, sr, mono=mono, telephone=telephone, rng=_rng(seed, index, 4))

    stem = f"long_call_{int(long_minutes)}min" if long_minutes else f"call_{index:04d}"
    out.mkdir(parents=True, exist_ok=True)
    write_flac(out / f"{stem}.flac", y, sr)

    segments = [{"speaker": u.speaker, "start": _r(u.start / sr), "end": _r(u.end / sr),
                 "text": u.text,
                 "words": [{"text": w.text, "start": _r(w.start / sr), "end": _r(w.end / sr)}
                           for w in u.words]} for u in final_utts]
    # sentence-cased text with punctuation for non-truncated phrases
    sidecar = {
        "call_id": stem,
        "audio": f"{stem}.flac",
        "agent_id": agent[0],
        "channels": ["mixed"] if mono else ["agent", "customer"],
        "transcript": {"language": "en", "segments": segments},
        "ground_truth": {
            "sample_rate": sr,
            "duration_sec": _r(n / sr),
            "mono": mono,
            "band": "telephone" if telephone else "wideband",
            "scenario": scenario,
            "customer_mood": mood,
            "agent_style": style,
            "outcome": {"resolved": resolved, "satisfaction": satisfaction},
            "ending": ending,
            **gt,
            "holds": [{"start": _r(h["start"] / sr), "end": _r(h["end"] / sr)} for h in holds],
            "entities": entities,
            "speakers": {
                role: {"voice": sp.voice, "espeak_pitch": sp.base_pitch,
                       "rate_pct": list(sp.rate), "pitch_shift_pct": round(sp.pitch_shift, 2),
                       "pitch_jitter_pct": sp.pitch_jitter, "pitch_range": sp.range_,
                       "level_dbfs": round(sp.level_db, 2)} for role, sp in spk.items()},
            "agent_name": agent[1],
            "customer_name": slots["cust_full"],
            **mixinfo,
        },
        "generator": {"script": "examples/generate_fixtures.py", "seed": seed, "index": index,
                      "espeak_ng": version},
    }
    (out / f"{stem}.json").write_text(json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return {"call_id": stem, "duration_sec": n / sr, "mood": mood, "style": style, "mono": mono,
            "sample_rate": sr, "hold": bool(holds), "resolved": resolved}


def _worker(args: tuple[int, int, str, float | None, str]) -> dict[str, Any]:
    index, seed, out, long_minutes, version = args
    return make_call(index, seed, Path(out), long_minutes=long_minutes, version=version)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    ap.add_argument("--n-calls", type=int, default=60, help="number of calls (default 60)")
    ap.add_argument("--start-index", type=int, default=1,
                    help="index of the first call (call_<index>); default 1")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    ap.add_argument("--long-call-minutes", type=float, default=None,
                    help="write ONE long call of about this many minutes (chained scenarios) "
                         "into --out instead of the corpus; not for examples/fixtures")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    version = espeak_version()
    t0 = time.perf_counter()
    if args.long_call_minutes:
        if args.out.resolve() == DEFAULT_OUT.resolve():
            ap.error("--long-call-minutes writes a benchmark call; give an --out other than "
                     "the committed examples/fixtures")
        info = make_call(args.start_index, args.seed, args.out,
                         long_minutes=args.long_call_minutes, version=version)
        if not args.quiet:
            print(f"wrote {args.out / info['call_id']}.flac ({info['duration_sec'] / 60:.1f} min) "
                  f"in {time.perf_counter() - t0:.1f} s")
        return 0

    jobs = args.jobs or os.cpu_count() or 1
    work = [(i, args.seed, str(args.out), None, version)
            for i in range(args.start_index, args.start_index + args.n_calls)]
    if jobs > 1 and len(work) > 1:
        import multiprocessing as mp
        with mp.get_context("fork" if sys.platform == "linux" else "spawn").Pool(jobs) as pool:
            infos = list(pool.imap(_worker, work, chunksize=1))
    else:
        infos = [_worker(w) for w in work]
    if not args.quiet:
        dur = sum(i["duration_sec"] for i in infos)
        print(f"wrote {len(infos)} calls ({dur / 60:.1f} min of audio) to {args.out} in "
              f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
