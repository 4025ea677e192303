"""What reception reads for each intent on "What patients ask": the topic
in plain words, not the intent's name. A test keeps it in step with
domain.yml."""

from __future__ import annotations

TITLES = {
    "faq_what_is_dry_needling": "What dry needling is",
    "faq_what_is_trigger_point": "What a trigger point is",
    "faq_myofascial_pain_syndrome": "Myofascial pain syndrome",
    "faq_vs_acupuncture": "Dry needling vs acupuncture",
    "faq_how_it_works": "How it works; the needles",
    "faq_twitch_response": "The twitch response",
    "faq_needle_duration": "How long the needles stay in",
    "faq_does_it_hurt": "Does it hurt?",
    "faq_side_effects": "Side effects and risks",
    "faq_aftercare": "Aftercare",
    "faq_benefits": "Benefits; how soon it helps",
    "faq_conditions_treated": "What it treats",
    "faq_evidence": "The evidence",
    "faq_long_term": "Does the relief last?",
    "faq_is_it_for_me": "Is it right for me?",
    "faq_needle_fear": "Fear of needles",
    "faq_referred_pain": "Referred pain",
    "faq_who_provides": "Who does it; their training",
    "faq_free_assessment": "The free initial assessment",
    "personal_advice": "Personal medical questions (referred to a physio)",
    "session_plan": "Number and length of sessions",
    "clinic_hours": "Clinic: opening hours",
    "clinic_location": "Clinic: location and parking",
    "clinic_contact": "Clinic: contact details",
    "clinic_cost": "Clinic: fees",
    "clinic_rebates": "Clinic: rebates and health funds",
    "clinic_referral": "Clinic: referrals",
    "what_to_bring": "Clinic: what to bring",
    "emergency": "Emergencies",
    "book_appointment": "Booking an appointment",
    "request_callback": "Asking for a callback",
    "human_handoff": "Asking for a person",
    "forget_me": "Asking to delete their data",
    "greet": "Greetings",
    "goodbye": "Goodbyes",
    "thank": "Thanks",
    "affirm": "Yes",
    "deny": "No",
    "bot_challenge": "Asking if it is a bot",
    "help": "Asking what the assistant can do",
    "out_of_scope": "Outside what the assistant covers",
    "non_english": "Not in English",
    "inform": "Details given (name, phone, time)",
    "stop": "Stopping a booking",
    "change_detail": "Changing a detail",
    "repair": "Saying the assistant misunderstood",
    "nlu_fallback": "Not understood",
}


def title(intent: str) -> str:
    """The topic for an intent; an intent added since is shown by name."""
    return TITLES.get(intent, intent)
